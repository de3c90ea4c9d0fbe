import { randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { HavenError } from '@haven/core';
import type { Clock } from '@haven/core';
import { SET_KINDS, SET_STATES } from './catalog.js';
import type { Catalog, ProtectionSet, SetKind, SetState, Standby } from './catalog.js';
import {
  checkAbsolutePath,
  checkBool,
  checkInt,
  checkName,
  checkNonNegative,
  checkStringList,
  checkText,
  checkTimeMs,
  invalid,
  show,
} from './catalog-validation.js';
import type { Lookup } from './sqlite-catalog-lookup.js';

/** Protection sets: policy, epoch (fencing) and the live status agents report. */
export type SetCatalog = Pick<
  Catalog,
  'createSet' | 'getSet' | 'listSets' | 'updateSet' | 'removeSet' | 'advanceEpoch' | 'reportSetStatus'
>;

interface SetRow {
  key: number;
  id: string;
  name: string;
  host: string;
  kind: SetKind;
  source: string;
  excludes_json: string;
  retention: string | null;
  replicate_to_json: string;
  standby_host: string | null;
  standby_target: string | null;
  sync: number;
  paused: number;
  epoch: number;
  home_site: string;
  created_at: number;
  last_seq: number;
  last_time_ms: number | null;
  state: SetState;
  lag_seconds: number;
  backlog_bytes: number;
  last_report_at: number | null;
}

/** The policy columns, in the order the insert and update statements bind them. */
interface Policy {
  host: string;
  source: string;
  excludes: readonly string[];
  retention: string | null;
  replicateTo: readonly string[];
  standby: Standby | null;
  sync: boolean;
  paused: boolean;
  homeSite: string;
}

const SET_COLUMNS =
  'key, id, name, host, kind, source, excludes_json, retention, replicate_to_json, standby_host, standby_target, sync, ' +
  'paused, epoch, home_site, created_at, last_seq, last_time_ms, state, lag_seconds, backlog_bytes, last_report_at';

const setOf = (r: SetRow): ProtectionSet => ({
  id: r.id,
  name: r.name,
  host: r.host,
  kind: r.kind,
  source: r.source,
  excludes: JSON.parse(r.excludes_json) as string[],
  retention: r.retention,
  replicateTo: JSON.parse(r.replicate_to_json) as string[],
  standby: r.standby_host === null || r.standby_target === null ? null : { host: r.standby_host, target: r.standby_target },
  sync: r.sync === 1,
  paused: r.paused === 1,
  epoch: r.epoch,
  homeSite: r.home_site,
  createdAtMs: r.created_at,
  lastSeq: r.last_seq,
  lastPointTimeMs: r.last_time_ms,
  state: r.state,
  lagSeconds: r.lag_seconds,
  backlogBytes: r.backlog_bytes,
  lastReportAtMs: r.last_report_at,
});

const policyParams = (p: Policy): unknown[] => [
  p.host,
  p.source,
  JSON.stringify(p.excludes),
  p.retention,
  JSON.stringify(p.replicateTo),
  p.standby?.host ?? null,
  p.standby?.target ?? null,
  p.sync ? 1 : 0,
  p.paused ? 1 : 0,
  p.homeSite,
];

function checkStandby(value: unknown): Standby | null {
  if (value === null) return null;
  if (typeof value !== 'object') throw invalid(`standby must be {host, target} or null, got ${show(value)}`);
  const s = value as Record<string, unknown>;
  return { host: checkName('standby.host', s['host']), target: checkAbsolutePath('standby.target', s['target']) };
}

function checkRetention(value: unknown): string | null {
  return value === null ? null : checkText('retention', value, 1000);
}

const checkExclude = (what: string, v: unknown): string => checkText(what, v, 1024);

export function createSetCatalog(db: Database, clock: Clock, lookup: Lookup): SetCatalog {
  const st = {
    insert: db.prepare<unknown[]>(
      `INSERT INTO sets (id, name, kind, epoch, created_at, state, host, source, excludes_json, retention,
         replicate_to_json, standby_host, standby_target, sync, paused, home_site)
       VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    byName: db.prepare<[string], SetRow>(`SELECT ${SET_COLUMNS} FROM sets WHERE name = ?`),
    byId: db.prepare<[string], { name: string }>('SELECT name FROM sets WHERE id = ?'),
    all: db.prepare<[], SetRow>(`SELECT ${SET_COLUMNS} FROM sets ORDER BY name`),
    update: db.prepare<unknown[]>(
      `UPDATE sets SET host = ?, source = ?, excludes_json = ?, retention = ?, replicate_to_json = ?, standby_host = ?,
         standby_target = ?, sync = ?, paused = ?, home_site = ? WHERE key = ?`,
    ),
    remove: db.prepare<[number]>('DELETE FROM sets WHERE key = ?'),
    epoch: db.prepare<[number, string, number]>('UPDATE sets SET epoch = ?, home_site = ? WHERE key = ?'),
    status: db.prepare<[string, number, number, number, number]>(
      'UPDATE sets SET state = ?, lag_seconds = ?, backlog_bytes = ?, last_report_at = ? WHERE key = ?',
    ),
    localSiteName: db.prepare<[], string>('SELECT name FROM local_site').pluck(),
  };

  const requireRow = (name: string): SetRow => {
    const row = st.byName.get(checkName('set name', name));
    if (row === undefined) throw new HavenError('NOT_FOUND', `no set named "${name}"`);
    return row;
  };

  const createTx = db.transaction((id: string, name: string, kind: SetKind, policy: Policy): ProtectionSet => {
    if (st.byName.get(name) !== undefined) throw new HavenError('ALREADY_EXISTS', `a set named "${name}" exists`);
    const other = st.byId.get(id);
    if (other !== undefined) throw new HavenError('ALREADY_EXISTS', `set id ${id} is already used by set "${other.name}"`);
    st.insert.run(id, name, kind, clock.now(), policy.paused ? 'PAUSED' : 'INITIAL_SYNC', ...policyParams(policy));
    return setOf(st.byName.get(name) as SetRow);
  });

  const updateTx = db.transaction((name: string, patch: Partial<Policy>): ProtectionSet => {
    const row = requireRow(name);
    const cur = setOf(row);
    const next: Policy = {
      host: patch.host ?? cur.host,
      source: patch.source ?? cur.source,
      excludes: patch.excludes ?? cur.excludes,
      retention: patch.retention === undefined ? cur.retention : patch.retention,
      replicateTo: patch.replicateTo ?? cur.replicateTo,
      standby: patch.standby === undefined ? cur.standby : patch.standby,
      sync: patch.sync ?? cur.sync,
      paused: patch.paused ?? cur.paused,
      homeSite: patch.homeSite ?? cur.homeSite,
    };
    if (next.sync && next.replicateTo.length === 0) throw invalid('sync needs at least one replicateTo site');
    st.update.run(...policyParams(next), row.key);
    return setOf(st.byName.get(name) as SetRow);
  });

  const epochTx = db.transaction((name: string, to: number | undefined, homeSite: string | undefined): ProtectionSet => {
    const row = requireRow(name);
    const next = to ?? row.epoch + 1;
    if (next < row.epoch) {
      throw new HavenError('FAILED_PRECONDITION', `set "${name}" is at epoch ${row.epoch}; an epoch never goes back to ${next}`, {
        details: { set: name, setEpoch: String(row.epoch) },
      });
    }
    st.epoch.run(next, homeSite ?? row.home_site, row.key);
    return setOf(st.byName.get(name) as SetRow);
  });

  /** Checks the policy fields present in `input`; absent ones stay absent. */
  const checkPolicy = (input: Record<string, unknown>): Partial<Policy> => {
    const out: { -readonly [K in keyof Policy]?: Policy[K] } = {};
    if (input['host'] !== undefined) out.host = checkName('host', input['host']);
    if (input['source'] !== undefined) out.source = checkAbsolutePath('source', input['source']);
    if (input['excludes'] !== undefined) out.excludes = checkStringList('excludes', input['excludes'], checkExclude);
    if (input['retention'] !== undefined) out.retention = checkRetention(input['retention']);
    if (input['replicateTo'] !== undefined) out.replicateTo = checkStringList('replicateTo', input['replicateTo'], checkName, 16);
    if (input['standby'] !== undefined) out.standby = checkStandby(input['standby']);
    if (input['sync'] !== undefined) out.sync = checkBool('sync', input['sync']);
    if (input['paused'] !== undefined) out.paused = checkBool('paused', input['paused']);
    if (input['homeSite'] !== undefined) out.homeSite = checkName('homeSite', input['homeSite']);
    return out;
  };

  return {
    createSet(set) {
      if (typeof set !== 'object' || set === null) throw invalid(`set must be an object, got ${show(set)}`);
      const name = checkName('set name', set.name);
      if (!(SET_KINDS as readonly unknown[]).includes(set.kind)) throw invalid(`set kind must be files or block, got ${show(set.kind)}`);
      if (set.host === undefined) throw invalid('host is required');
      if (set.source === undefined) throw invalid('source is required');
      const p = checkPolicy(set as unknown as Record<string, unknown>);
      const id = set.id === undefined ? randomUUID() : checkText('set id', set.id);
      const homeSite = p.homeSite ?? st.localSiteName.get();
      if (homeSite === undefined) {
        throw new HavenError('FAILED_PRECONDITION', 'homeSite is required until this site has an identity (initLocalSite)');
      }
      if (p.sync === true && (p.replicateTo ?? []).length === 0) throw invalid('sync needs at least one replicateTo site');
      return createTx.immediate(id, name, set.kind, {
        host: p.host as string,
        source: p.source as string,
        excludes: p.excludes ?? [],
        retention: p.retention ?? null,
        replicateTo: p.replicateTo ?? [],
        standby: p.standby ?? null,
        sync: p.sync ?? false,
        paused: p.paused ?? false,
        homeSite,
      });
    },
    getSet(name) {
      const row = st.byName.get(checkName('set name', name));
      return row === undefined ? undefined : setOf(row);
    },
    listSets() {
      return st.all.all().map(setOf);
    },
    updateSet(name, patch) {
      if (typeof patch !== 'object' || patch === null) throw invalid(`patch must be an object, got ${show(patch)}`);
      checkName('set name', name);
      return updateTx.immediate(name, checkPolicy(patch as unknown as Record<string, unknown>));
    },
    removeSet(name) {
      // Journal, versions and branches go with the set (ON DELETE CASCADE); GC then frees the chunks.
      st.remove.run(lookup.set(name).key);
    },
    advanceEpoch(name, change = {}) {
      checkName('set name', name);
      const to = change.to === undefined ? undefined : checkInt('epoch', change.to, 1);
      const homeSite = change.homeSite === undefined ? undefined : checkName('homeSite', change.homeSite);
      return epochTx.immediate(name, to, homeSite);
    },
    reportSetStatus(name, report) {
      const state = report?.state;
      if (!(SET_STATES as readonly unknown[]).includes(state)) throw invalid(`unknown set state ${show(state)}`);
      const lag = checkNonNegative('lagSeconds', report.lagSeconds);
      const backlog = checkInt('backlogBytes', report.backlogBytes, 0);
      const at = report.timeMs === undefined ? clock.now() : checkTimeMs('timeMs', report.timeMs);
      st.status.run(state, lag, backlog, at, lookup.set(name).key);
    },
  };
}
