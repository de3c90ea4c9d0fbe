#!/usr/bin/env node
import { formatError, runMain } from '@haven/runtime';
import { processIo } from '../cli/cli-io.js';
import { runCli } from '../cli/run-cli.js';

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  // The reader went away (`haven ls SET -r | head`): stop quietly, as a tool killed by SIGPIPE would.
  if (err.code === 'EPIPE') process.exit(0);
  process.stderr.write(`${formatError('haven', err)}\n`);
  process.exit(1);
});

runMain('haven', () => runCli(process.argv.slice(2), processIo()));
