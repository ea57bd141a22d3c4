#!/usr/bin/env node
// The `agenc` CLI. The project runs from its TypeScript sources through tsx, so a checkout needs no build step.
require('tsx/cjs/api').register();
require('../client/cli.ts').main(process.argv);
