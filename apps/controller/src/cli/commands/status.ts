import { timestampMs } from '@bufbuild/protobuf/wkt';
import { GetStatusResponseSchema, ReplicationDirection, ReplicationModeSchema, SetKindSchema, SetStateSchema } from '@haven/proto';
import type { Host, ProtectionSet, ReplicationStatus, Site } from '@haven/proto';
import { defineCommand } from '../command.js';
import { enumLabel, formatAgo, formatPoint } from '../format.js';
import { printJson, printLines } from '../output.js';
import { formatBytes, formatDuration, renderTable } from '../render-table.js';

export function siteRows(sites: readonly Site[], nowMs: number): string[][] {
  return sites.map((s) => [
    s.local ? `${s.name} (this site)` : s.name,
    s.address,
    s.local ? 'yes' : s.online ? 'yes' : 'no',
    s.local ? '-' : formatAgo(s.lastSeenAt, nowMs),
    s.caFingerprint.slice(0, 16),
  ]);
}
export const SITE_HEADERS = ['SITE', 'ADDRESS', 'ONLINE', 'LAST-SEEN', 'CA-FINGERPRINT'];

export function hostRows(hosts: readonly Host[], nowMs: number): string[][] {
  return hosts.map((h) => [h.name, h.online ? 'yes' : 'no', formatAgo(h.lastSeenAt, nowMs), h.agentVersion || '-', h.sets.join(',') || '-']);
}
export const HOST_HEADERS = ['HOST', 'ONLINE', 'LAST-SEEN', 'AGENT', 'SETS'];

export function setRows(sets: readonly ProtectionSet[]): string[][] {
  return sets.map((s) => [
    s.name,
    s.host,
    enumLabel(SetKindSchema, s.kind).toLowerCase(),
    s.state === 0 ? '-' : enumLabel(SetStateSchema, s.state),
    formatDuration(s.lagSeconds),
    formatBytes(s.backlogBytes),
    formatPoint(s.lastPoint),
  ]);
}
export const SET_HEADERS = ['NAME', 'HOST', 'KIND', 'STATE', 'LAG', 'BACKLOG', 'LAST-POINT'];

export function replicationRows(rows: readonly ReplicationStatus[], nowMs: number): string[][] {
  return rows.map((r) => [
    r.set,
    r.direction === ReplicationDirection.INBOUND ? `<- ${r.site}` : `-> ${r.site}`,
    enumLabel(ReplicationModeSchema, r.mode).toLowerCase(),
    formatDuration(r.lagSeconds),
    `${formatBytes(r.backlogBytes)} / ${r.backlogEntries} entries`,
    `${r.ackedSeq}/${r.headSeq}`,
    r.connected ? 'yes' : 'no',
    formatAgo(r.lastAckAt, nowMs),
    r.lastError === undefined ? '-' : `${r.lastError.code}: ${r.lastError.message}`,
  ]);
}
export const REPLICATION_HEADERS = ['SET', 'PEER', 'MODE', 'LAG', 'BACKLOG', 'ACKED/HEAD', 'CONNECTED', 'LAST-ACK', 'ERROR'];

export const statusCommand = defineCommand({
  path: ['status'],
  summary: 'sites, hosts, sets (state, lag, backlog, last point) and replication lag at a glance',
  usage: '',
  args: [],
  options: {},
  async run(ctx) {
    const res = await ctx.admin().getStatus({});
    if (ctx.json) return printJson(ctx.io.stdout, GetStatusResponseSchema, res);
    // Relative times against the controller's clock, so a skewed admin laptop does not lie.
    const now = res.serverTime === undefined ? ctx.clock.now() : timestampMs(res.serverTime);
    const sections = [
      renderTable(SITE_HEADERS, siteRows(res.sites, now)),
      res.hosts.length === 0 ? 'no hosts enrolled (haven token create --host NAME)' : renderTable(HOST_HEADERS, hostRows(res.hosts, now)),
      res.sets.length === 0 ? 'no protection sets (haven set create --help)' : renderTable(SET_HEADERS, setRows(res.sets)),
    ];
    if (res.replication.length > 0) sections.push(renderTable(REPLICATION_HEADERS, replicationRows(res.replication, now)));
    await printLines(ctx.io.stdout, sections.join('\n\n'));
    return 0;
  },
});
