#!/usr/bin/env node
// The `agenc` CLI: the prebuilt bundle (dist/agenc.cjs, scripts/build-cli.js), rebuilt first when a source
// it was built from has changed; where it cannot be built, straight from the TypeScript sources through tsx.
const argv = process.argv;
if (argv.length === 3 && (argv[2] === '--version' || argv[2] === '-V')) {
  // What commander would print, without loading the Temporal client (most of a command's start).
  process.stdout.write(`${require('../package.json').version}\n`);
} else {
  // AGENC_CLI_FROM_SOURCE=1 runs the sources (stack traces in TypeScript; the bench's comparison).
  const bundle = process.env.AGENC_CLI_FROM_SOURCE === '1' ? undefined : require('../scripts/build-cli.js').cliBundle();
  if (bundle) {
    require(bundle).main(argv);
  } else {
    require('tsx/cjs/api').register();
    require('../client/cli.ts').main(argv);
  }
}
