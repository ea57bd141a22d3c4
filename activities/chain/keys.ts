/**
 * Key files in the Solana CLI format (a JSON array of the 64 secret-key bytes), mode 0600 (a key file
 * group or others may read is refused):
 *   <keysDir>/authority.json     protocol authority: fee payer, base key of every stake and bond account
 *   <keysDir>/treasury.json      receives slashed lamports
 *   <keysDir>/agents/<name>.json agent wallets
 * Keypairs leave this class only to be handed to ChainPort.send(); nothing in this module returns or
 * logs a secret key.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Keypair, type PublicKey } from '@solana/web3.js';
import { AGENT_NAME_PATTERN } from '../../shared/task-model';
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

  /** The authority keypair (created on first use). For signing only. */
  authority(): Keypair {
    return this.loadOrCreate(path.join(this.dir, 'authority.json'));
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

  private agentFile(name: string): string {
    return path.join(this.dir, 'agents', `${name}.json`);
  }

  private loadOrCreate(file: string): Keypair {
    const cached = this.cache.get(file);
    if (cached) return cached;
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const fresh = Keypair.generate();
    try {
      fs.writeFileSync(file, JSON.stringify(Array.from(fresh.secretKey)), { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const keypair = readKeypair(file);
    this.cache.set(file, keypair);
    return keypair;
  }
}

function readKeypair(file: string): Keypair {
  // A secret key others can read is as good as leaked: refuse it (as ssh does) rather than sign with it.
  const mode = fs.statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw new Error(`key file ${file} has mode ${mode.toString(8)}: a secret key must be readable by its owner only; run \`chmod 600 ${file}\``);
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
