/** An agent's settlements as the chain recorded them, in ledger order (transactions in order, and within one). */
import { stakeAddress } from './addresses';
import type { StakeDeps } from './context';
import { parseMemos } from './ledger';

export interface Settlement {
  task: string;
  action: 'release' | 'slash';
  signature: string;
}

/** Every release and slash of `agent`'s bonds, as its stake account's history records them. */
export async function settlementsOf(deps: StakeDeps, agent: string): Promise<Settlement[]> {
  const authority = deps.keys.authority().publicKey.toBase58();
  const history = await deps.chain.getMemoHistory(await stakeAddress(deps, agent));
  return parseMemos(history, authority).flatMap(({ signature, memo }) =>
    (memo.action === 'release' || memo.action === 'slash') && memo.agent === agent
      ? [{ task: memo.task, action: memo.action, signature }]
      : [],
  );
}
