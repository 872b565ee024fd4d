#!/usr/bin/env node
// The `tcpscope` command (also `kubectl tcpscope`): runs the compiled CLI in dist/.
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const main = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
if (!fs.existsSync(main)) {
  process.stderr.write('tcpscope: not built yet; run `npm run setup` (or `npm run build`) in ' + path.join(__dirname, '..') + '\n');
  process.exit(2);
}
require(main);
