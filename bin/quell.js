#!/usr/bin/env node
'use strict';
// Runs the `quell` command from source (through tsx) in a checkout, or from the compiled `dist/` in an image.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const source = path.join(root, 'src', 'cli', 'main.ts');
let cli;
if (fs.existsSync(source)) {
  require('tsx/cjs');
  cli = require(source);
} else {
  cli = require(path.join(root, 'dist', 'src', 'cli', 'main.js'));
}
cli.main(process.argv);
