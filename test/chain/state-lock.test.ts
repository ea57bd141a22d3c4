/**
 * One process owns an embedded chain's state at a time, and a dead owner never blocks the next one,
 * whatever pid it had. Holders here are real processes (node with tsx, opening a real BankrunChain).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BankrunChain } from '../../activities/chain';
import { PROJECT_ROOT } from '../helpers/paths';
import { tempDir } from './helpers';

const stateFile = (dir: string) => path.join(dir, 'chain', 'svm-accounts.json');
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** A process of its own that opens the chain and keeps it open until killed; resolves once it has it. */
function holdChain(accountsFile: string, wrap: string[] = []): Promise<ChildProcess> {
  const script =
    `require('./activities/chain/bankrun-chain').BankrunChain.open({ accountsFile: ${JSON.stringify(accountsFile)} }).then(` +
    `() => { process.stdout.write('open\\n'); setInterval(() => undefined, 1 << 30); },` +
    `(err) => { process.stderr.write(String(err && err.stack || err)); process.exit(2); });`;
  const argv = [...wrap, process.execPath, '--import', 'tsx', '-e', script];
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: 'error' },
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('open\n')) resolve(child);
    });
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code, signal) =>
      reject(new Error(`holder exited (${code ?? signal}) before opening the chain:\n${out.slice(-3000)}`)),
    );
  });
}

function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

test('a lock file left by a killed process whose pid is now this process, or another live one (a restarted container), does not block the open', async () => {
  const dir = tempDir();
  const accountsFile = stateFile(dir);
  fs.mkdirSync(path.dirname(accountsFile), { recursive: true });
  const chain = await BankrunChain.open({ accountsFile });
  await chain.close();
  // What the previous version left behind when killed: a `.lock` file holding the holder's pid. In a
  // restarted container that pid is taken again, often by the new worker itself (pid 1), or by another process.
  for (const pid of [process.pid, 1]) {
    fs.writeFileSync(`${accountsFile}.lock`, String(pid));
    const again = await BankrunChain.open({ accountsFile });
    await again.close();
  }
});

test('a chain held open by another live process is refused with ChainStateLocked; once that process is killed with SIGKILL it opens at once', async () => {
  const dir = tempDir();
  const accountsFile = stateFile(dir);
  const holder = await holdChain(accountsFile);

  const refused = BankrunChain.open({ accountsFile });
  await expect(refused).rejects.toMatchObject({ type: 'ChainStateLocked' });
  await expect(refused).rejects.toThrow(new RegExp(`${escape(accountsFile)}.*process ${holder.pid}`));

  await killHard(holder); // no close(), no exit handler: the kernel alone lets go
  const chain = await BankrunChain.open({ accountsFile });
  await chain.close();
});

// A second container sharing the state volume has a network namespace of its own; `unshare` (util-linux) makes one.
test('a holder in another network namespace (another container on the same volume) is seen too', async () => {
  const dir = tempDir();
  const accountsFile = stateFile(dir);
  const holder = await holdChain(accountsFile, ['unshare', '--net', '--map-root-user']);
  await expect(BankrunChain.open({ accountsFile })).rejects.toMatchObject({ type: 'ChainStateLocked' });
  await killHard(holder);
  const chain = await BankrunChain.open({ accountsFile });
  await chain.close();
});
