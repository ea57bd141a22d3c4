/**
 * What `agenc proof verify` reads from the chain: the task's commitment record (the commit Memo the
 * protocol authority signed in the custody program's Commit transaction at the task's record address),
 * compared with the proof record.
 *
 * The CLI holds no chain of its own. On a cluster (`SOLANA_RPC_URL`) it asks the cluster. On the embedded
 * chain the worker owns the state file, so the CLI reads the chain's ledger, the history log
 * (`<name>.history.jsonl`), without taking the chain's lock and without writing anything. It counts
 * only transactions whose effects the journal or the snapshot holds, as the chain itself does when it
 * starts (a history line written just before a crash, whose effects never were, is no transaction).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PublicKey } from '@solana/web3.js';
import { DEFAULT_ACCOUNTS_FILE, historyFileFor, journalFileFor } from '../../activities/chain/chain-files';
import { custodyProgramId } from '../../activities/chain/custody/deployment';
import { Custody } from '../../activities/chain/custody/instructions';
import { commitDifferences, readCommitRecord, type CommitDifference } from '../../activities/chain/commit-activities';
import { DEFAULT_KEYS_DIR, KeyStore } from '../../activities/chain/keys';
import type { ChainPort, MemoRecord } from '../../activities/chain/port';
import { RpcChain } from '../../activities/chain/rpc-chain';
import type { ProofRecord } from '../../shared/proof-records';
import { CliError, EXIT } from '../output';

export interface ChainRecordCheck {
  /** The record is there and says what the proof record says. */
  ok: boolean;
  chain: 'embedded' | 'rpc';
  /** The RPC URL, or the embedded chain's accounts file. */
  source: string;
  authority: string;
  /** The task's commit address. */
  address: string;
  /** The transaction that wrote the record; null when there is none. */
  signature: string | null;
  record: {
    task_id: string;
    agent: string;
    commitment: string;
    parent_commitment: string;
    verification_key_hash: string;
  } | null;
  /** Fields where the chain and the proof record disagree; `record` alone when there is no record. */
  differences: Array<CommitDifference | { field: 'record'; on_chain: null; expected: string }>;
  reason?: string;
}

/** The chain's commitment record for the proof's task, checked field by field against the proof record. */
export async function checkChainRecord(
  proof: ProofRecord,
  opts: { authority?: string; program?: string },
): Promise<ChainRecordCheck> {
  const authority = authorityAddress(opts.authority);
  const rpcUrl = process.env.SOLANA_RPC_URL;
  const { chain, kind, source } = rpcUrl
    ? { chain: new RpcChain(rpcUrl, { wsEndpoint: process.env.SOLANA_WS_URL }), kind: 'rpc' as const, source: rpcUrl }
    : await embeddedLedger(path.resolve(process.env.AGENC_CHAIN_FILE ?? DEFAULT_ACCOUNTS_FILE));
  const address = await (await Custody.at(programAddress(opts.program), authority)).record(proof.task_id);
  const found = await readCommitRecord(chain, authority, address, proof.task_id).catch((err: unknown) => {
    throw new CliError(
      `cannot read the commitment record of task ${proof.task_id} from ${source}: ${err instanceof Error ? err.message : String(err)}`,
      EXIT.system,
    );
  });
  const base = { chain: kind, source, authority: authority.toBase58() };
  if (!found) {
    return {
      ...base,
      ok: false,
      address: address.toBase58(),
      signature: null,
      record: null,
      differences: [{ field: 'record', on_chain: null, expected: `a commit signed by ${authority.toBase58()}` }],
      reason: `no commitment record for task ${proof.task_id} on the chain (${source}): it has not committed (yet), or this is not the chain it committed to`,
    };
  }
  const m = found.memo;
  const differences = commitDifferences(m, {
    taskId: proof.task_id,
    agent: proof.agent,
    commitment: proof.commitments.output,
    parentCommitment: proof.commitments.parent,
    verificationKeyHash: proof.verification_key_hash,
  });
  return {
    ...base,
    ok: differences.length === 0,
    address: found.address,
    signature: found.signature,
    record: {
      task_id: m.task,
      agent: m.agent,
      commitment: m.commitment,
      parent_commitment: m.parent,
      verification_key_hash: m.vkey,
    },
    differences,
    ...(differences.length
      ? {
          reason: `the chain's commitment record for task ${proof.task_id} (signature ${found.signature}) differs from the proof record: ${differences
            .map((d) => `${d.field}: on-chain ${JSON.stringify(d.on_chain)}, proof ${JSON.stringify(d.expected)}`)
            .join('; ')}`,
        }
      : {}),
  };
}

/**
 * The protocol authority whose signature makes a record: `--authority`, else the public key of the
 * workers' authority key file (read, never created).
 */
function authorityAddress(given: string | undefined): PublicKey {
  if (given !== undefined) {
    try {
      return new PublicKey(given);
    } catch {
      throw new CliError(
        `--authority ${JSON.stringify(given)} is not a base58 Solana address (\`agenc admin check-pool\` prints the protocol authority)`,
        EXIT.usage,
      );
    }
  }
  const dir = process.env.AGENC_KEYS_DIR ?? DEFAULT_KEYS_DIR;
  const file = path.resolve(dir, 'authority.json');
  if (!fs.existsSync(file)) {
    throw new CliError(
      `no protocol authority key at ${file}, so the chain's commitment record cannot be found: pass --authority <address> ` +
        "(`agenc admin check-pool` prints it) or set AGENC_KEYS_DIR to the workers' keys directory",
      EXIT.usage,
    );
  }
  try {
    return new KeyStore(dir).authority().publicKey;
  } catch (err) {
    throw new CliError(`cannot read the protocol authority key ${file}: ${(err as Error).message}`, EXIT.usage);
  }
}

/** The custody program whose records these are: `--program`, `$AGENC_CUSTODY_PROGRAM_ID`, else the workers' program key file. */
function programAddress(given: string | undefined): PublicKey {
  if (given !== undefined) {
    try {
      return new PublicKey(given);
    } catch {
      throw new CliError(`--program ${JSON.stringify(given)} is not a base58 Solana address`, EXIT.usage);
    }
  }
  const dir = process.env.AGENC_KEYS_DIR ?? DEFAULT_KEYS_DIR;
  let id: PublicKey | null;
  try {
    id = custodyProgramId({ keys: new KeyStore(dir) });
  } catch (err) {
    throw new CliError(`cannot read the custody program's id: ${(err as Error).message}`, EXIT.usage);
  }
  if (!id) {
    throw new CliError(
      `no custody program key at ${path.resolve(dir, 'custody-program.json')}, so the chain's commitment record cannot be found: ` +
        "pass --program <id> (`agenc admin check-pool` prints it), or set AGENC_CUSTODY_PROGRAM_ID or AGENC_KEYS_DIR to the workers' keys directory",
      EXIT.usage,
    );
  }
  return id;
}

interface HistoryLine extends MemoRecord {
  seq: number;
  accounts: string[];
}

/** The embedded chain's ledger, read-only: the transactions that touched each address, oldest first. */
async function embeddedLedger(
  accountsFile: string,
): Promise<{ chain: Pick<ChainPort, 'getMemoHistory'>; kind: 'embedded'; source: string }> {
  const historyFile = historyFileFor(accountsFile);
  if (!fs.existsSync(accountsFile) && !fs.existsSync(historyFile)) {
    throw new CliError(
      `no embedded chain state at ${accountsFile}: run this where the worker keeps its chain (AGENC_CHAIN_FILE names its svm-accounts.json), ` +
        'or set SOLANA_RPC_URL for a cluster',
      EXIT.system,
    );
  }
  // The journal before the snapshot: a compaction between the two reads then moves records into the
  // snapshot we read next, never out of both.
  const journalSeqs = jsonLines<{ seq?: unknown }>(journalFileFor(accountsFile)).map((r) =>
    typeof r.seq === 'number' ? r.seq : 0,
  );
  const snapshotSeq = readSnapshotSeq(accountsFile);
  const persisted = Math.max(snapshotSeq, ...journalSeqs);
  const history = jsonLines<HistoryLine>(historyFile).filter(
    (h) => typeof h.seq === 'number' && h.seq <= persisted && Array.isArray(h.accounts),
  );
  return {
    kind: 'embedded',
    source: accountsFile,
    chain: {
      async getMemoHistory(address: PublicKey): Promise<MemoRecord[]> {
        const wanted = address.toBase58();
        return history
          .filter((h) => h.accounts.includes(wanted))
          .map(({ signature, slot, feePayer, memo, blockTime }) => ({
            signature,
            slot,
            feePayer,
            memo,
            blockTime: blockTime ?? null,
          }));
      },
    },
  };
}

function readSnapshotSeq(file: string): number {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  const seq = (JSON.parse(text) as { seq?: unknown }).seq;
  if (typeof seq !== 'number')
    throw new CliError(`${file} is not an embedded-chain accounts snapshot (it has no "seq")`, EXIT.system);
  return seq;
}

/** The parsed lines of a JSON-lines log; a line that does not parse (torn by a crash mid-append) is skipped. */
function jsonLines<T>(file: string): T[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: T[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // torn last line
    }
  }
  return out;
}
