#!/usr/bin/env node
'use strict';
// The CLI is compiled TypeScript: `npm run build` (the README's commands run it) writes dist/.
const path = require('node:path');
const fs = require('node:fs');

// Node 20 is what dbkeep supports today; the SDK's notice about its releases of 2027 would
// otherwise open every command's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const entry = path.join(__dirname, '..', 'dist', 'clients', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write(`dbkeep: ${entry} is missing; run \`npm run build\` in ${path.join(__dirname, '..')}\n`);
  process.exit(1);
}
require(entry)
  .main(process.argv.slice(2))
  .then((code) => process.exit(code));
