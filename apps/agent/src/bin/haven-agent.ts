#!/usr/bin/env node
import { HavenError } from '@haven/core';
import { formatOptions, parseCommandLine, runMain } from '@haven/runtime';

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
  if (verb === 'enroll' || verb === 'run') {
    throw new HavenError('UNIMPLEMENTED', `haven-agent ${verb} is not available in this build`);
  }
  throw new HavenError('INVALID_ARGUMENT', `unknown command "${verb}" (try --help)`);
});
