#!/usr/bin/env node
import { HavenError } from '@haven/core';
import { createLogger, formatOptions, parseCommandLine, runMain } from '@haven/runtime';
import { startAgent } from '../agent-runtime.js';
import { enrollAgent } from '../identity/enroll.js';

const options = {
  controller: { type: 'string', value: 'HOST:PORT', description: 'controller address (enroll)' },
  token: { type: 'string', value: 'TOKEN', description: 'one-time enrollment token from `haven token create` (enroll)' },
  state: { type: 'string', value: 'DIR', description: 'agent state directory (identity, state DB, queue)' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
} as const;

const HELP = `haven-agent: protects this host's directories and block devices

Usage:
  haven-agent enroll --controller HOST:PORT --token TOKEN --state DIR
      Pin the controller's CA from the token, obtain this host's client certificate.
  haven-agent run --state DIR
      Keep one session to the controller: capture changes, upload, commit, run jobs.

Options:
${formatOptions(options)}
`;

runMain('haven-agent', async () => {
  const { values, positionals } = parseCommandLine(process.argv.slice(2), options);
  const verb = positionals[0];
  if (values.help === true || verb === undefined || verb === 'help') {
    process.stdout.write(HELP);
    return verb === undefined && values.help !== true ? 2 : 0;
  }
  const state = values.state;
  if (state === undefined || state === '') throw new HavenError('INVALID_ARGUMENT', 'missing --state DIR');
  if (verb === 'enroll') {
    if (values.controller === undefined) throw new HavenError('INVALID_ARGUMENT', 'missing --controller HOST:PORT');
    if (values.token === undefined) throw new HavenError('INVALID_ARGUMENT', 'missing --token TOKEN');
    const id = await enrollAgent({ controller: values.controller, token: values.token, stateDir: state });
    process.stdout.write(`enrolled as host ${id.hostName} of site ${id.siteName}; run: haven-agent run --state ${state}\n`);
    return 0;
  }
  if (verb === 'run') {
    const logger = createLogger({ name: 'haven-agent' });
    const agent = await startAgent({ stateDir: state, logger });
    process.stdout.write(`${JSON.stringify({ event: 'running', host: agent.identity.hostName })}\n`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        void agent.stop().then(resolve);
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    return 0;
  }
  throw new HavenError('INVALID_ARGUMENT', `unknown command "${verb}" (try --help)`);
});
