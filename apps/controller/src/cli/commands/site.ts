import { CreateSiteInviteResponseSchema, GetReplicationStatusResponseSchema, JoinSiteResponseSchema, ListSitesResponseSchema } from '@haven/proto';
import { defineCommand } from '../command.js';
import { ttlOf } from '../flag-values.js';
import { formatAgo, formatTime } from '../format.js';
import { printJson, printLines, printTable } from '../output.js';
import { REPLICATION_HEADERS, SITE_HEADERS, replicationRows, siteRows } from './status.js';

export const siteInviteCommand = defineCommand({
  path: ['site', 'invite'],
  summary: "create a one-time pairing token carrying this site's address and CA fingerprint",
  usage: '[--ttl 1h]',
  details: 'Prints only the token on stdout; run `haven site join TOKEN` against the other site\'s controller.',
  args: [],
  options: {
    ttl: { type: 'string', value: 'DURATION', description: 'validity, e.g. 30m, 1h (default 1h, at most 7d)' },
  },
  async run(ctx, _args, opts) {
    const ttl = ttlOf(opts.ttl);
    const res = await ctx.admin().createSiteInvite(ttl === undefined ? {} : { ttl });
    if (ctx.json) return printJson(ctx.io.stdout, CreateSiteInviteResponseSchema, res);
    await printLines(ctx.io.stdout, res.token);
    await printLines(ctx.io.stderr, `expires ${formatTime(res.expiresAt)} (${formatAgo(res.expiresAt, ctx.clock.now())})`);
    return 0;
  },
});

export const siteJoinCommand = defineCommand({
  path: ['site', 'join'],
  summary: 'pair this site with the site that issued TOKEN (both then trust each other)',
  usage: 'TOKEN',
  args: [{ name: 'TOKEN' }],
  options: {},
  async run(ctx, [token]) {
    const res = await ctx.admin().joinSite({ token: token ?? '' });
    if (ctx.json) return printJson(ctx.io.stdout, JoinSiteResponseSchema, res);
    const s = res.site;
    return printLines(ctx.io.stdout, s === undefined ? 'paired' : `paired with site ${s.name} at ${s.address} (CA ${s.caFingerprint})`);
  },
});

export const siteListCommand = defineCommand({
  path: ['site', 'list'],
  summary: 'list this site and its paired peers',
  usage: '',
  args: [],
  options: {},
  async run(ctx) {
    const res = await ctx.admin().listSites({});
    if (ctx.json) return printJson(ctx.io.stdout, ListSitesResponseSchema, res);
    return printTable(ctx.io.stdout, SITE_HEADERS, siteRows(res.sites, ctx.clock.now()));
  },
});

export const replicationStatusCommand = defineCommand({
  path: ['replication', 'status'],
  summary: 'replication per set and peer: lag, backlog, acknowledged seq, errors',
  usage: '[--set SET] [--site SITE]',
  args: [],
  options: {
    set: { type: 'string', value: 'SET', description: 'only this set' },
    site: { type: 'string', value: 'SITE', description: 'only this peer site' },
  },
  async run(ctx, _args, opts) {
    const res = await ctx.admin().getReplicationStatus({ set: opts.set ?? '', site: opts.site ?? '' });
    if (ctx.json) return printJson(ctx.io.stdout, GetReplicationStatusResponseSchema, res);
    if (res.replication.length === 0) return printLines(ctx.io.stdout, 'nothing replicates (haven set update SET --replicate-to SITE)');
    return printTable(ctx.io.stdout, REPLICATION_HEADERS, replicationRows(res.replication, ctx.clock.now()));
  },
});
