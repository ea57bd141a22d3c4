/** Stops the suite's dev server. */
export default async function globalTeardown(): Promise<void> {
  await globalThis.__AGENC_DEV_SERVER__?.stop();
}
