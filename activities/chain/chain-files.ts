/**
 * Where the embedded chain keeps its state: the accounts file and, beside it, its transaction history and
 * its journal. Apart from the chain itself (bankrun-chain.ts) so that what only needs the names (the key
 * store's refusal to reuse a chain, `agenc proof verify`) does not load the SVM.
 */
export const DEFAULT_ACCOUNTS_FILE = '.data/chain/svm-accounts.json';

export function historyFileFor(accountsFile: string): string {
  return `${accountsFile.replace(/\.json$/, '')}.history.jsonl`;
}

export function journalFileFor(accountsFile: string): string {
  return `${accountsFile.replace(/\.json$/, '')}.journal.jsonl`;
}
