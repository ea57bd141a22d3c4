/**
 * The lock/release/slash contract through RpcChain, against the cluster at SOLANA_RPC_URL (a local
 * solana-test-validator or devnet: it needs requestAirdrop). Without SOLANA_RPC_URL it says so and passes.
 */
import { KeyStore, RpcChain } from '../../activities/chain';
import { runBondContract } from './contract';
import { envFor, tempDir } from './helpers';
import * as path from 'node:path';

const url = process.env.SOLANA_RPC_URL;

if (url) {
  test(`lock/release/slash contract through RpcChain at ${url}`, async () => {
    const dir = tempDir();
    const env = envFor({ chain: new RpcChain(url), keys: new KeyStore(path.join(dir, 'keys')) }, dir);
    try {
      await runBondContract(env);
    } finally {
      await env.close();
    }
  }, 300_000);
} else {
  test('RpcChain contract: not run (SOLANA_RPC_URL is not set)', () => {
    console.log(
      'rpc-contract.test.ts DID NOT RUN the RpcChain contract: SOLANA_RPC_URL is not set. ' +
        'Start `solana-test-validator` and run `SOLANA_RPC_URL=http://127.0.0.1:8899 npx jest test/chain/rpc-contract`.',
    );
    expect(url).toBeUndefined();
  });
}
