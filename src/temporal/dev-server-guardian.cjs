#!/usr/bin/env node
// Runs a server (the Temporal dev server, the Temporal server, PostgreSQL) as a child and ties its life to the
// process that asked for it.
// Usage: node dev-server-guardian.cjs <owner-pid> <temporal-binary> [args...]
// Why a separate process: a Node parent that crashes or is SIGKILLed cannot clean up after itself, so
// this guardian polls the owner and stops the server as soon as the owner is gone. It runs in its own
// process group so that Ctrl-C in a terminal reaches the owner first, which drains the worker and then
// stops the server through this guardian (SIGTERM), in that order.
'use strict';
const { spawn } = require('node:child_process');

const [ownerArg, binary, ...args] = process.argv.slice(2);
const owner = Number(ownerArg);
if (!owner || !binary) {
  process.stderr.write('usage: dev-server-guardian <owner-pid> <temporal-binary> [args...]\n');
  process.exit(2);
}

const server = spawn(binary, args, { stdio: ['ignore', 'inherit', 'inherit'] });
// The signal that asks the server to stop cleanly (PostgreSQL's fast shutdown is SIGINT).
const stopSignal = process.env.QUELL_GUARDIAN_STOP_SIGNAL || 'SIGTERM';
let stopping = false;

function stop(reason) {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`[quell guardian] stopping ${binary} (${reason})\n`);
  server.kill(stopSignal);
  // Temporal normally exits within a second or two; never leave it behind.
  setTimeout(() => server.kill('SIGKILL'), 10_000).unref();
}

server.on('exit', (code, signal) => {
  process.exit(code ?? (signal ? 1 : 0));
});
server.on('error', (err) => {
  process.stderr.write(`[quell guardian] could not start ${binary}: ${err.message}\n`);
  process.exit(127);
});

for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => stop(sig));

setInterval(() => {
  try {
    process.kill(owner, 0);
  } catch {
    stop(`owner process ${owner} is gone`);
  }
}, 500);
