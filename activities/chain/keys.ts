/**
 * Key files in the Solana CLI format (a JSON array of the 64 secret-key bytes), mode 0600 (a key file
 * group or others may read is refused):
 *   <keysDir>/authority.json     protocol authority: fee payer, base key of every stake and bond account
 *   <keysDir>/treasury.json      receives slashed lamports
 *   <keysDir>/agents/<name>.json agent wallets
 * Keypairs leave this class only to be handed to ChainPort.send(); nothing in this module returns or
 * logs a secret key.
 *
 * The authority is never made on first use: every stake, bond and commitment account is derived from
 * it, so a fresh key in place of a lost one (a keys directory not mounted, AGENC_KEYS_DIR mistyped, a
 * second host without the key) would strand them all and carry on as a different system. It is made on
 * purpose, by `initialiseAuthority` (the embedded chain's first start) or `createAuthority` (tests, a
 * new system's own set-up); everything else that finds none refuses.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Keypair, type PublicKey } from '@solana/web3.js';
import { AGENT_NAME_PATTERN } from '../../shared/task-model';
import { DEFAULT_ACCOUNTS_FILE, historyFileFor, journalFileFor } from './chain-files';
import { chainFailure } from './errors';

export { AGENT_NAME_PATTERN };
export const DEFAULT_KEYS_DIR = '.data/keys';

/** Returns the name if valid, else throws InvalidAgentName. */
export function validateAgentName(name: unknown): string {
  if (typeof name !== 'string' || !AGENT_NAME_PATTERN.test(name)) {
    throw chainFailure(
      'InvalidAgentName',
      `agent name ${JSON.stringify(name)} is invalid: use 1-32 characters of a-z, 0-9, '_' or '-', starting with a letter or digit`,
    );
  }
  return name;
}

export class KeyStore {
  readonly dir: string;
  private readonly cache = new Map<string, Keypair>();

  constructor(dir: string = DEFAULT_KEYS_DIR) {
    this.dir = path.resolve(dir);
  }

  get authorityFile(): string {
    return path.join(this.dir, 'authority.json');
  }

  hasAuthority(): boolean {
    return this.cache.has(this.authorityFile) || fs.existsSync(this.authorityFile);
  }

  /** The authority keypair; a missing key file is refused (see the top of this file). For signing only. */
  authority(): Keypair {
    if (!this.hasAuthority()) throw new Error(missingAuthorityMessage(this.authorityFile));
    return this.load(this.authorityFile);
  }

  /** Makes the authority key file unless there is one (then it is kept): a new system's set-up only. */
  createAuthority(): Keypair {
    return this.loadOrCreate(this.authorityFile);
  }

  /** The treasury keypair (created on first use). For signing only. */
  treasury(): Keypair {
    return this.loadOrCreate(path.join(this.dir, 'treasury.json'));
  }

  /** An agent's wallet. With `create`, made on first use; otherwise a missing wallet is UnknownAgent. For signing only. */
  agent(name: string, options: { create?: boolean } = {}): Keypair {
    const file = this.agentFile(validateAgentName(name));
    if (!options.create && !fs.existsSync(file)) {
      throw chainFailure(
        'UnknownAgent',
        `unknown agent "${name}": no wallet at ${file}; create it with \`agenc stake init --agent ${name} --amount <lamports>\``,
      );
    }
    return this.loadOrCreate(file);
  }

  agentPublicKey(name: string): PublicKey {
    return this.agent(name).publicKey;
  }

  hasAgent(name: string): boolean {
    return fs.existsSync(this.agentFile(validateAgentName(name)));
  }

  /** Names of every agent with a wallet file, sorted. */
  listAgents(): string[] {
    const dir = path.join(this.dir, 'agents');
    if (!fs.existsSync(dir)) return [];
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -'.json'.length))
      .filter((n) => AGENT_NAME_PATTERN.test(n))
      .sort();
  }

  /** A keypair from a key file of this store's kind (mode 600, Solana CLI format), e.g. the custody program's key. */
  keypairAt(file: string): Keypair {
    return this.load(file);
  }

  /** As keypairAt, made first if the file does not exist. */
  loadOrCreateKeypair(file: string): Keypair {
    return this.loadOrCreate(file);
  }

  private agentFile(name: string): string {
    return path.join(this.dir, 'agents', `${name}.json`);
  }

  /** Where an agent's wallet (key file) is, or would be made. */
  agentKeyPath(name: string): string {
    return this.agentFile(validateAgentName(name));
  }

  private load(file: string): Keypair {
    let keypair = this.cache.get(file);
    if (!keypair) {
      keypair = readKeypair(file);
      this.cache.set(file, keypair);
    }
    return keypair;
  }

  private loadOrCreate(file: string): Keypair {
    if (!this.cache.has(file)) {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      try {
        // 'wx': of two processes making the same key at once, one writes it and both read that one.
        fs.writeFileSync(file, JSON.stringify(Array.from(Keypair.generate().secretKey)), { flag: 'wx', mode: 0o600 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    return this.load(file);
  }
}

function missingAuthorityMessage(file: string): string {
  return (
    `no protocol authority key at ${file}: every stake, bond and commitment account is derived from it, so none is made on the fly. ` +
    `If this system had one, restore authority.json from its backup (or point AGENC_KEYS_DIR at the keys directory that holds it). ` +
    'A new system makes it once: the embedded chain on its first start (`npm start`, or `npm run worker` before the chain has any state); ' +
    `for a cluster, \`solana-keygen new --no-bip39-passphrase -o ${file}\`, then fund it`
  );
}

/** What a process is about to open the chain with: the options it gives openStakeDeps, with the same defaults. */
export interface ChainLocation {
  /** A cluster URL; default `$SOLANA_RPC_URL`. When absent (or empty) the embedded chain is used. */
  rpcUrl?: string;
  /** Embedded chain state; default `$AGENC_CHAIN_FILE` or `.data/chain/svm-accounts.json`. */
  accountsFile?: string;
  /** Default `$AGENC_KEYS_DIR` or `.data/keys`. */
  keysDir?: string;
}

/**
 * Run by a process that is about to open the chain and serve tasks (a worker, `npm start`), before it
 * does. On the embedded chain's first start (no state in its files yet, so no account derives from any
 * authority) it makes the authority: the only place a running system makes one. Otherwise a missing
 * key is refused here, at start-up, naming the file and what to run, rather than at the first task.
 */
export function initialiseAuthority(at: ChainLocation = {}): { authority: PublicKey; created: boolean } {
  const keys = new KeyStore(at.keysDir ?? process.env.AGENC_KEYS_DIR ?? DEFAULT_KEYS_DIR);
  if (keys.hasAuthority()) return { authority: keys.authority().publicKey, created: false };
  if (at.rpcUrl ?? process.env.SOLANA_RPC_URL) throw new Error(missingAuthorityMessage(keys.authorityFile));
  const accountsFile = path.resolve(at.accountsFile ?? process.env.AGENC_CHAIN_FILE ?? DEFAULT_ACCOUNTS_FILE);
  const state = [accountsFile, historyFileFor(accountsFile), journalFileFor(accountsFile)].filter((f) =>
    fs.existsSync(f),
  );
  if (state.length) {
    throw new Error(
      `no protocol authority key at ${keys.authorityFile}, but the embedded chain already has state (${state.join(', ')}) whose stake, ` +
        'bond and commitment accounts are derived from an authority: restore authority.json from its backup (or point AGENC_KEYS_DIR at ' +
        'the keys directory that holds it), or move those chain files away to start a new embedded chain, whose first start makes a new authority',
    );
  }
  return { authority: keys.createAuthority().publicKey, created: true };
}

/**
 * A keypair from a key file held anywhere (`agenc task submit --key-file`), with the checks the store's
 * own files get: mode 600, the Solana CLI format. For signing only.
 */
export function readKeyFile(file: string): Keypair {
  return readKeypair(path.resolve(file));
}

function readKeypair(file: string): Keypair {
  // A secret key others can read is as good as leaked: refuse it (as ssh does) rather than sign with it.
  const mode = fs.statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw new Error(
      `key file ${file} has mode ${mode.toString(8)}: a secret key must be readable by its owner only; run \`chmod 600 ${file}\``,
    );
  }
  let bytes: unknown;
  try {
    bytes = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    throw new Error(`key file ${file} is not readable JSON (expected the Solana CLI format: an array of 64 numbers)`);
  }
  if (!Array.isArray(bytes) || bytes.length !== 64 || !bytes.every((b) => Number.isInteger(b) && b >= 0 && b < 256)) {
    throw new Error(`key file ${file} is not in the Solana CLI format (an array of 64 numbers)`);
  }
  return Keypair.fromSecretKey(Uint8Array.from(bytes as number[]));
}
