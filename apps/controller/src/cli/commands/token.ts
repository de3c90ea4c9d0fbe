import { HavenError } from '@haven/core';
import { CreateTokenResponseSchema } from '@haven/proto';
import { defineCommand } from '../command.js';
import { ttlOf } from '../flag-values.js';
import { formatAgo, formatTime } from '../format.js';
import { printJson, printLines } from '../output.js';

export const tokenCreateCommand = defineCommand({
  path: ['token', 'create'],
  summary: 'create a one-time enrollment token for a host',
  usage: '--host NAME [--ttl 1h]',
  details:
    'Prints only the token on stdout (the expiry goes to stderr), so it can be captured:\n' +
    '  TOKEN=$(haven token create --host web1)\n' +
    '  haven-agent enroll --controller HOST:PORT --token "$TOKEN" --state DIR    (on web1)\n' +
    'The token is secret, works once and pins this site\'s CA.',
  args: [],
  options: {
    host: { type: 'string', value: 'NAME', description: 'name the host will enroll as' },
    ttl: { type: 'string', value: 'DURATION', description: 'validity, e.g. 30m, 1h, 2d (default 1h, at most 7d)' },
  },
  async run(ctx, _args, opts) {
    if (opts.host === undefined || opts.host === '') throw new HavenError('INVALID_ARGUMENT', 'missing --host NAME');
    const ttl = ttlOf(opts.ttl);
    const res = await ctx.admin().createToken({ host: opts.host, ...(ttl === undefined ? {} : { ttl }) });
    if (ctx.json) return printJson(ctx.io.stdout, CreateTokenResponseSchema, res);
    await printLines(ctx.io.stdout, res.token);
    await printLines(ctx.io.stderr, `enrolls host ${res.host}; expires ${formatTime(res.expiresAt)} (${formatAgo(res.expiresAt, ctx.clock.now())})`);
    return 0;
  },
});
