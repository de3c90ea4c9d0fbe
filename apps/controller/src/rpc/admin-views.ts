import { create } from '@bufbuild/protobuf';
import { HostSchema, ProtectionSetSchema } from '@haven/proto';
import type { Host as PbHost, ProtectionSet as PbSet } from '@haven/proto';
import type { Host, ProtectionSet } from '../catalog/catalog.js';
import type { ControllerContext } from '../services/controller-context.js';
import { SET_KIND_TO_PROTO, SET_STATE_TO_PROTO, msToTimestamp, pointToProto } from './convert.js';

/** Reports older than this mean the agent is gone: the set shows DISCONNECTED. */
const STALE_REPORT_MS = 30_000;

export function hostView(ctx: ControllerContext, h: Host): PbHost {
  const session = ctx.sessions.get(h.id);
  return create(HostSchema, {
    id: h.id,
    name: h.name,
    online: session !== undefined,
    ...(h.lastSeenAtMs === null ? {} : { lastSeenAt: msToTimestamp(h.lastSeenAtMs) }),
    agentVersion: session?.agentVersion ?? '',
    capabilities: session?.capabilities ?? [],
    sets: ctx.catalog.listSets().filter((s) => s.host === h.name).map((s) => s.name),
    enrolledAt: msToTimestamp(h.enrolledAtMs),
  });
}

export function setView(ctx: ControllerContext, s: ProtectionSet): PbSet {
  const host = ctx.catalog.getHost(s.host);
  const online = host !== undefined && ctx.sessions.online(host.id);
  const live = ctx.sessions.liveStatus(s.name);
  const reportAt = live?.atMs ?? s.lastReportAtMs;
  const fresh = reportAt !== null && ctx.clock.now() - reportAt < STALE_REPORT_MS;
  const reported = live?.state ?? s.state;
  // A set its connected agent has not reported on yet (created a moment ago) is still in
  // its first sync as far as anyone can tell; DISCONNECTED is for agents gone silent.
  const state = s.paused ? 'PAUSED' : online && fresh ? reported : reportAt === null && (online || s.lastSeq === 0) ? 'INITIAL_SYNC' : 'DISCONNECTED';
  const last = s.lastSeq > 0 ? ctx.catalog.listPoints(s.name, { fromSeq: s.lastSeq, limit: 1 })[0] : undefined;
  // Lag grows while nothing is heard from the agent: it is at least the report's age.
  const lagReported = live?.lagSeconds ?? s.lagSeconds;
  const lag = fresh ? lagReported : reportAt === null ? 0 : Math.max(lagReported, (ctx.clock.now() - reportAt) / 1000);
  return create(ProtectionSetSchema, {
    name: s.name,
    host: s.host,
    kind: SET_KIND_TO_PROTO[s.kind],
    state: SET_STATE_TO_PROTO[state],
    lagSeconds: lag,
    backlogBytes: BigInt(live?.backlogBytes ?? s.backlogBytes),
    backlogFiles: BigInt(live?.backlogFiles ?? 0),
    ...(last === undefined ? {} : { lastPoint: pointToProto(last) }),
    epoch: BigInt(s.epoch),
    homeSite: s.homeSite,
    paused: s.paused,
    spec: {
      name: s.name,
      host: s.host,
      source: s.kind === 'block' ? { case: 'device', value: s.source } : { case: 'path', value: s.source },
      excludes: [...s.excludes],
      retention: s.retention ?? '',
      replicateTo: [...s.replicateTo],
      ...(s.standby === null ? {} : { standby: { host: s.standby.host, target: s.standby.target } }),
      sync: s.sync,
    },
    ...(reportAt === null ? {} : { statusAt: msToTimestamp(reportAt) }),
    createdAt: msToTimestamp(s.createdAtMs),
  });
}
