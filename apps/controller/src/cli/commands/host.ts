import { GetHostResponseSchema, ListHostsResponseSchema, RemoveHostResponseSchema } from '@haven/proto';
import { defineCommand } from '../command.js';
import { formatAgo, formatFields, formatTime } from '../format.js';
import { printJson, printLines, printTable } from '../output.js';
import { HOST_HEADERS, hostRows } from './status.js';

export const hostListCommand = defineCommand({
  path: ['host', 'list'],
  summary: 'list enrolled hosts',
  usage: '',
  args: [],
  options: {},
  async run(ctx) {
    const res = await ctx.admin().listHosts({});
    if (ctx.json) return printJson(ctx.io.stdout, ListHostsResponseSchema, res);
    if (res.hosts.length === 0) return printLines(ctx.io.stdout, 'no hosts enrolled (haven token create --host NAME)');
    return printTable(ctx.io.stdout, HOST_HEADERS, hostRows(res.hosts, ctx.clock.now()));
  },
});

export const hostShowCommand = defineCommand({
  path: ['host', 'show'],
  summary: 'show one host',
  usage: 'NAME',
  args: [{ name: 'NAME' }],
  options: {},
  async run(ctx, [name]) {
    const res = await ctx.admin().getHost({ name: name ?? '' });
    if (ctx.json) return printJson(ctx.io.stdout, GetHostResponseSchema, res);
    const h = res.host;
    if (h === undefined) return printLines(ctx.io.stdout, `host ${name ?? ''}: no details`);
    const now = ctx.clock.now();
    return printLines(
      ctx.io.stdout,
      formatFields([
        ['name', h.name],
        ['id', h.id],
        ['online', h.online ? 'yes' : 'no'],
        ['last seen', `${formatTime(h.lastSeenAt)} (${formatAgo(h.lastSeenAt, now)})`],
        ['address', h.address || '-'],
        ['agent', h.agentVersion || '-'],
        ['capabilities', h.capabilities.join(', ') || '-'],
        ['sets', h.sets.join(', ') || '-'],
        ['enrolled', formatTime(h.enrolledAt)],
        ['certificate expires', `${formatTime(h.certificateExpiresAt)} (${formatAgo(h.certificateExpiresAt, now)})`],
      ]),
    );
  },
});

export const hostRemoveCommand = defineCommand({
  path: ['host', 'remove'],
  summary: "remove a host: revoke its certificate and end its session",
  usage: 'NAME [--force]',
  details: 'A host that is ACTIVE or STANDBY for sets is refused unless --force; those sets keep their points and show DISCONNECTED.',
  args: [{ name: 'NAME' }],
  options: {
    force: { type: 'boolean', description: 'remove even if the host is active or standby for sets' },
  },
  async run(ctx, [name], opts) {
    const res = await ctx.admin().removeHost({ name: name ?? '', force: opts.force === true });
    if (ctx.json) return printJson(ctx.io.stdout, RemoveHostResponseSchema, res);
    return printLines(ctx.io.stdout, `removed host ${name ?? ''}`);
  },
});
