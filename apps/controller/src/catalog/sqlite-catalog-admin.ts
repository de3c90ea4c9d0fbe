import { randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { HavenError } from '@haven/core';
import type { Clock } from '@haven/core';
import { JOB_STATES } from './catalog.js';
import type { AuditEntry, Catalog, EnrollmentToken, Host, Job, JobState, PeerSite, SiteIdentity } from './catalog.js';
import {
  checkInt,
  checkJsonObject,
  checkName,
  checkOptionalText,
  checkText,
  checkTimeMs,
  invalid,
  show,
  toJson,
} from './catalog-validation.js';

/** Sites, hosts, enrollment tokens, the audit log and jobs. */
export type AdminCatalog = Pick<
  Catalog,
  | 'getLocalSite'
  | 'initLocalSite'
  | 'addPeerSite'
  | 'getPeerSite'
  | 'listPeerSites'
  | 'updatePeerSite'
  | 'removePeerSite'
  | 'addHost'
  | 'getHost'
  | 'getHostById'
  | 'getHostByFingerprint'
  | 'listHosts'
  | 'touchHost'
  | 'removeHost'
  | 'addEnrollmentToken'
  | 'consumeEnrollmentToken'
  | 'enrollHost'
  | 'listEnrollmentTokens'
  | 'pruneEnrollmentTokens'
  | 'appendAudit'
  | 'listAudit'
  | 'createJob'
  | 'getJob'
  | 'listJobs'
  | 'assignJob'
  | 'startJob'
  | 'updateJobProgress'
  | 'finishJob'
>;

interface PeerRow {
  name: string;
  id: string;
  address: string;
  ca_pem: string;
  paired_at: number;
}
interface HostRow {
  id: string;
  name: string;
  cert_fingerprint: string;
  enrolled_at: number;
  last_seen_at: number | null;
  removed_at: number | null;
}
interface TokenRow {
  token_hash: string;
  host_name: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}
interface AuditRow {
  id: number;
  time_ms: number;
  actor: string;
  action: string;
  target: string;
  result: string;
  details_json: string;
}
interface JobRow {
  id: string;
  kind: string;
  state: JobState;
  set_name: string | null;
  host_id: string | null;
  spec_json: string;
  progress_json: string;
  result_json: string | null;
  error_code: string | null;
  error_message: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

const peerOf = (r: PeerRow): PeerSite => ({ name: r.name, id: r.id, address: r.address, caPem: r.ca_pem, pairedAtMs: r.paired_at });
const hostOf = (r: HostRow): Host => ({
  id: r.id,
  name: r.name,
  certFingerprint: r.cert_fingerprint,
  enrolledAtMs: r.enrolled_at,
  lastSeenAtMs: r.last_seen_at,
  removedAtMs: r.removed_at,
});
const tokenOf = (r: TokenRow): EnrollmentToken => ({
  tokenHash: r.token_hash,
  hostName: r.host_name,
  createdAtMs: r.created_at,
  expiresAtMs: r.expires_at,
  usedAtMs: r.used_at,
});
const auditOf = (r: AuditRow): AuditEntry => ({
  id: r.id,
  timeMs: r.time_ms,
  actor: r.actor,
  action: r.action,
  target: r.target,
  result: r.result,
  details: JSON.parse(r.details_json) as Record<string, unknown>,
});
const jobOf = (r: JobRow): Job => ({
  id: r.id,
  kind: r.kind,
  state: r.state,
  setName: r.set_name,
  hostId: r.host_id,
  spec: JSON.parse(r.spec_json) as unknown,
  progress: JSON.parse(r.progress_json) as unknown,
  result: r.result_json === null ? null : (JSON.parse(r.result_json) as unknown),
  errorCode: r.error_code,
  errorMessage: r.error_message,
  createdAtMs: r.created_at,
  startedAtMs: r.started_at,
  finishedAtMs: r.finished_at,
});

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/;
const JOB_KIND = /^[a-z][a-z0-9-]{0,39}$/;
const HOST_COLUMNS = 'id, name, cert_fingerprint, enrolled_at, last_seen_at, removed_at';
const JOB_COLUMNS =
  'id, kind, state, set_name, host_id, spec_json, progress_json, result_json, error_code, error_message, created_at, started_at, finished_at';

function checkCaPem(value: unknown): string {
  const pem = checkText('caPem', value, 64 * 1024);
  if (!PEM_CERT.test(pem)) throw invalid('caPem must be a PEM certificate (-----BEGIN CERTIFICATE-----)');
  return pem;
}

function checkLimit(value: unknown): number {
  return value === undefined ? 1000 : checkInt('limit', value, 1, 1_000_000);
}

export function createAdminCatalog(db: Database, clock: Clock): AdminCatalog {
  const st = {
    localSite: db.prepare<[], { id: string; name: string; created_at: number }>('SELECT id, name, created_at FROM local_site'),
    insertLocalSite: db.prepare<[string, string, number]>('INSERT INTO local_site (singleton, id, name, created_at) VALUES (1, ?, ?, ?)'),
    insertPeer: db.prepare<[string, string, string, string, number]>(
      'INSERT INTO peer_sites (name, id, address, ca_pem, paired_at) VALUES (?, ?, ?, ?, ?)',
    ),
    peer: db.prepare<[string], PeerRow>('SELECT name, id, address, ca_pem, paired_at FROM peer_sites WHERE name = ?'),
    peerById: db.prepare<[string], PeerRow>('SELECT name, id, address, ca_pem, paired_at FROM peer_sites WHERE id = ?'),
    peers: db.prepare<[], PeerRow>('SELECT name, id, address, ca_pem, paired_at FROM peer_sites ORDER BY name'),
    updatePeer: db.prepare<[string, string, string]>('UPDATE peer_sites SET address = ?, ca_pem = ? WHERE name = ?'),
    deletePeer: db.prepare<[string]>('DELETE FROM peer_sites WHERE name = ?'),

    insertHost: db.prepare<[string, string, string, number]>(
      'INSERT INTO hosts (id, name, cert_fingerprint, enrolled_at) VALUES (?, ?, ?, ?)',
    ),
    host: db.prepare<[string], HostRow>(`SELECT ${HOST_COLUMNS} FROM hosts WHERE name = ? AND removed_at IS NULL`),
    hostById: db.prepare<[string], HostRow>(`SELECT ${HOST_COLUMNS} FROM hosts WHERE id = ?`),
    hostByFingerprint: db.prepare<[string], HostRow>(
      `SELECT ${HOST_COLUMNS} FROM hosts WHERE cert_fingerprint = ? AND removed_at IS NULL`,
    ),
    hosts: db.prepare<[number], HostRow>(`SELECT ${HOST_COLUMNS} FROM hosts WHERE ? OR removed_at IS NULL ORDER BY name, enrolled_at`),
    touchHost: db.prepare<[number, string]>('UPDATE hosts SET last_seen_at = max(coalesce(last_seen_at, 0), ?) WHERE id = ?'),
    removeHost: db.prepare<[number, string], HostRow>(
      `UPDATE hosts SET removed_at = ? WHERE name = ? AND removed_at IS NULL RETURNING ${HOST_COLUMNS}`,
    ),

    insertToken: db.prepare<[string, string, number, number]>(
      'INSERT INTO enrollment_tokens (token_hash, host_name, created_at, expires_at) VALUES (?, ?, ?, ?)',
    ),
    // The one-time check and the marking are one statement, so two racing consumers cannot both win.
    consumeToken: db.prepare<[number, string, number], TokenRow>(
      'UPDATE enrollment_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? ' +
        'RETURNING token_hash, host_name, created_at, expires_at, used_at',
    ),
    token: db.prepare<[string], TokenRow>(
      'SELECT token_hash, host_name, created_at, expires_at, used_at FROM enrollment_tokens WHERE token_hash = ?',
    ),
    tokens: db.prepare<[number, number], TokenRow>(
      'SELECT token_hash, host_name, created_at, expires_at, used_at FROM enrollment_tokens ' +
        'WHERE ? OR (used_at IS NULL AND expires_at > ?) ORDER BY created_at, token_hash',
    ),
    pruneTokens: db.prepare<[number]>('DELETE FROM enrollment_tokens WHERE used_at IS NOT NULL OR expires_at <= ?'),

    insertAudit: db.prepare<[number, string, string, string, string, string], AuditRow>(
      'INSERT INTO audit_log (time_ms, actor, action, target, result, details_json) VALUES (?, ?, ?, ?, ?, ?) ' +
        'RETURNING id, time_ms, actor, action, target, result, details_json',
    ),
    auditAsc: db.prepare<[number, number], AuditRow>(
      'SELECT id, time_ms, actor, action, target, result, details_json FROM audit_log WHERE id > ? ORDER BY id LIMIT ?',
    ),
    auditDesc: db.prepare<[number, number], AuditRow>(
      'SELECT id, time_ms, actor, action, target, result, details_json FROM audit_log WHERE id > ? ORDER BY id DESC LIMIT ?',
    ),

    insertJob: db.prepare<[string, string, string | null, string | null, string, number], JobRow>(
      "INSERT INTO jobs (id, kind, state, set_name, host_id, spec_json, progress_json, created_at) VALUES (?, ?, 'PENDING', ?, ?, ?, '{}', ?) " +
        `RETURNING ${JOB_COLUMNS}`,
    ),
    job: db.prepare<[string], JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`),
    jobs: db.prepare<
      { state: string | null; active: number; kind: string | null; setName: string | null; hostId: string | null; limit: number },
      JobRow
    >(
      `SELECT ${JOB_COLUMNS} FROM jobs
       WHERE (@state IS NULL OR state = @state) AND (@active = 0 OR state IN ('PENDING', 'RUNNING'))
         AND (@kind IS NULL OR kind = @kind) AND (@setName IS NULL OR set_name = @setName)
         AND (@hostId IS NULL OR host_id = @hostId)
       ORDER BY rowid DESC LIMIT @limit`,
    ),
    assignJob: db.prepare<[string | null, string], JobRow>(`UPDATE jobs SET host_id = ? WHERE id = ? RETURNING ${JOB_COLUMNS}`),
    startJob: db.prepare<[number, string], JobRow>(
      `UPDATE jobs SET state = 'RUNNING', started_at = ? WHERE id = ? AND state = 'PENDING' RETURNING ${JOB_COLUMNS}`,
    ),
    progressJob: db.prepare<[string, string], JobRow>(
      `UPDATE jobs SET progress_json = ? WHERE id = ? AND state IN ('PENDING', 'RUNNING') RETURNING ${JOB_COLUMNS}`,
    ),
    finishJob: db.prepare<[string, string | null, string | null, string | null, number, string], JobRow>(
      `UPDATE jobs SET state = ?, result_json = ?, error_code = ?, error_message = ?, finished_at = ?
       WHERE id = ? AND state IN ('PENDING', 'RUNNING') RETURNING ${JOB_COLUMNS}`,
    ),
  };

  const requirePeer = (name: string): PeerRow => {
    const row = st.peer.get(checkName('site name', name));
    if (row === undefined) throw new HavenError('NOT_FOUND', `no peer site named "${name}"`);
    return row;
  };

  const addHostRow = (name: string, fingerprint: string, id: string): Host => {
    if (st.host.get(name) !== undefined) {
      throw new HavenError('ALREADY_EXISTS', `host "${name}" is already enrolled; remove it first (haven host remove ${name})`);
    }
    const other = st.hostByFingerprint.get(fingerprint);
    if (other !== undefined) {
      throw new HavenError('ALREADY_EXISTS', `this certificate is already enrolled as host "${other.name}"`);
    }
    if (st.hostById.get(id) !== undefined) throw new HavenError('ALREADY_EXISTS', `a host with id ${id} exists`);
    st.insertHost.run(id, name, fingerprint, clock.now());
    return hostOf(st.hostById.get(id) as HostRow);
  };

  // Explains why a token cannot be consumed, without telling an attacker more than needed.
  const tokenRefusal = (tokenHash: string): HavenError => {
    const row = st.token.get(tokenHash);
    const why =
      row === undefined
        ? 'enrollment token is not valid'
        : row.used_at !== null
          ? 'enrollment token was already used (tokens are one-time; create a new one with haven token create)'
          : `enrollment token expired at ${new Date(row.expires_at).toISOString()} (create a new one with haven token create)`;
    return new HavenError('UNAUTHENTICATED', why);
  };

  const consume = (tokenHash: string): TokenRow => {
    const row = st.consumeToken.get(clock.now(), tokenHash, clock.now());
    if (row === undefined) throw tokenRefusal(tokenHash);
    return row;
  };

  const requireJob = (id: string): JobRow => {
    const row = st.job.get(checkText('job id', id));
    if (row === undefined) throw new HavenError('NOT_FOUND', `no job ${id}`);
    return row;
  };

  const enrollTx = db.transaction((tokenHash: string, fingerprint: string, id: string): Host => {
    const token = consume(tokenHash);
    return addHostRow(token.host_name, fingerprint, id);
  });
  const addHostTx = db.transaction(addHostRow);
  const initLocalSiteTx = db.transaction((id: string, name: string): SiteIdentity => {
    const row = st.localSite.get();
    if (row !== undefined) {
      if (row.id === id && row.name === name) return { id, name, createdAtMs: row.created_at };
      throw new HavenError('ALREADY_EXISTS', `this catalog already belongs to site "${row.name}" (${row.id})`);
    }
    const now = clock.now();
    st.insertLocalSite.run(id, name, now);
    return { id, name, createdAtMs: now };
  });
  const addPeerTx = db.transaction((peer: PeerSite): PeerSite => {
    if (st.peer.get(peer.name) !== undefined) throw new HavenError('ALREADY_EXISTS', `peer site "${peer.name}" is already paired`);
    const byId = st.peerById.get(peer.id);
    if (byId !== undefined) throw new HavenError('ALREADY_EXISTS', `site id ${peer.id} is already paired as "${byId.name}"`);
    st.insertPeer.run(peer.name, peer.id, peer.address, peer.caPem, peer.pairedAtMs);
    return peer;
  });

  return {
    getLocalSite() {
      const row = st.localSite.get();
      return row === undefined ? undefined : { id: row.id, name: row.name, createdAtMs: row.created_at };
    },
    initLocalSite(site) {
      const id = checkText('site id', site?.id);
      const name = checkName('site name', site?.name);
      return initLocalSiteTx.immediate(id, name);
    },
    addPeerSite(peer) {
      const name = checkName('site name', peer?.name);
      const id = checkText('site id', peer.id);
      const address = checkText('address', peer.address, 300);
      const caPem = checkCaPem(peer.caPem);
      const pairedAt = peer.pairedAtMs === undefined ? clock.now() : checkTimeMs('pairedAtMs', peer.pairedAtMs);
      return addPeerTx.immediate({ name, id, address, caPem, pairedAtMs: pairedAt });
    },
    getPeerSite(name) {
      const row = st.peer.get(checkName('site name', name));
      return row === undefined ? undefined : peerOf(row);
    },
    listPeerSites() {
      return st.peers.all().map(peerOf);
    },
    updatePeerSite(name, patch) {
      const row = requirePeer(name);
      const address = patch.address === undefined ? row.address : checkText('address', patch.address, 300);
      const caPem = patch.caPem === undefined ? row.ca_pem : checkCaPem(patch.caPem);
      st.updatePeer.run(address, caPem, name);
      return peerOf({ ...row, address, ca_pem: caPem });
    },
    removePeerSite(name) {
      requirePeer(name);
      st.deletePeer.run(name);
    },

    addHost(host) {
      const name = checkName('host name', host?.name);
      const fingerprint = checkText('certFingerprint', host.certFingerprint);
      const id = host.id === undefined ? randomUUID() : checkText('host id', host.id);
      return addHostTx.immediate(name, fingerprint, id);
    },
    getHost(name) {
      const row = st.host.get(checkName('host name', name));
      return row === undefined ? undefined : hostOf(row);
    },
    getHostById(id) {
      const row = st.hostById.get(checkText('host id', id));
      return row === undefined ? undefined : hostOf(row);
    },
    getHostByFingerprint(fingerprint) {
      const row = st.hostByFingerprint.get(checkText('certFingerprint', fingerprint));
      return row === undefined ? undefined : hostOf(row);
    },
    listHosts(options = {}) {
      return st.hosts.all(options.includeRemoved === true ? 1 : 0).map(hostOf);
    },
    touchHost(id, timeMs) {
      const at = timeMs === undefined ? clock.now() : checkTimeMs('timeMs', timeMs);
      if (st.touchHost.run(at, checkText('host id', id)).changes === 0) throw new HavenError('NOT_FOUND', `no host with id ${id}`);
    },
    removeHost(name) {
      const row = st.removeHost.get(clock.now(), checkName('host name', name));
      if (row === undefined) throw new HavenError('NOT_FOUND', `no enrolled host named "${name}"`);
      return hostOf(row);
    },

    addEnrollmentToken(token) {
      const tokenHash = checkText('tokenHash', token?.tokenHash);
      const hostName = checkName('host name', token.hostName);
      const expiresAt = checkTimeMs('expiresAtMs', token.expiresAtMs);
      const now = clock.now();
      if (expiresAt <= now) throw invalid(`expiresAtMs ${expiresAt} is not in the future`);
      if (st.token.get(tokenHash) !== undefined) throw new HavenError('ALREADY_EXISTS', 'an enrollment token with this hash exists');
      st.insertToken.run(tokenHash, hostName, now, expiresAt);
      return { tokenHash, hostName, createdAtMs: now, expiresAtMs: expiresAt, usedAtMs: null };
    },
    consumeEnrollmentToken(tokenHash) {
      return tokenOf(consume(checkText('tokenHash', tokenHash)));
    },
    enrollHost(request) {
      const tokenHash = checkText('tokenHash', request?.tokenHash);
      const fingerprint = checkText('certFingerprint', request.certFingerprint);
      const id = request.id === undefined ? randomUUID() : checkText('host id', request.id);
      return enrollTx.immediate(tokenHash, fingerprint, id);
    },
    listEnrollmentTokens(options = {}) {
      return st.tokens.all(options.includeInactive === true ? 1 : 0, clock.now()).map(tokenOf);
    },
    pruneEnrollmentTokens() {
      return st.pruneTokens.run(clock.now()).changes;
    },

    appendAudit(entry) {
      const actor = checkText('actor', entry?.actor);
      const action = checkText('action', entry.action, 100);
      const target = checkOptionalText('target', entry.target, 1000) ?? '';
      const result = checkText('result', entry.result, 100);
      const details = entry.details === undefined ? '{}' : checkJsonObject('details', entry.details);
      const timeMs = entry.timeMs === undefined ? clock.now() : checkTimeMs('timeMs', entry.timeMs);
      return auditOf(st.insertAudit.get(timeMs, actor, action, target, result, details) as AuditRow);
    },
    listAudit(query = {}) {
      const after = query.afterId === undefined ? 0 : checkInt('afterId', query.afterId, 0);
      const limit = checkLimit(query.limit);
      return (query.newestFirst === true ? st.auditDesc : st.auditAsc).all(after, limit).map(auditOf);
    },

    createJob(job) {
      const kind = job?.kind;
      if (typeof kind !== 'string' || !JOB_KIND.test(kind)) throw invalid(`job kind must be a lowercase word, got ${show(kind)}`);
      const spec = toJson('spec', job.spec ?? {});
      const setName = job.setName === undefined ? null : checkName('set name', job.setName);
      const hostId = job.hostId === undefined ? null : checkText('host id', job.hostId);
      const id = job.id === undefined ? randomUUID() : checkText('job id', job.id);
      if (st.job.get(id) !== undefined) throw new HavenError('ALREADY_EXISTS', `a job with id ${id} exists`);
      return jobOf(st.insertJob.get(id, kind, setName, hostId, spec, clock.now()) as JobRow);
    },
    getJob(id) {
      const row = st.job.get(checkText('job id', id));
      return row === undefined ? undefined : jobOf(row);
    },
    listJobs(query = {}) {
      const state = query.state ?? null;
      if (state !== null && !(JOB_STATES as readonly string[]).includes(state)) throw invalid(`unknown job state ${show(state)}`);
      return st.jobs
        .all({
          state,
          active: query.activeOnly === true ? 1 : 0,
          kind: query.kind === undefined ? null : checkText('kind', query.kind, 40),
          setName: query.setName === undefined ? null : checkName('set name', query.setName),
          hostId: query.hostId === undefined ? null : checkText('host id', query.hostId),
          limit: checkLimit(query.limit),
        })
        .map(jobOf);
    },
    assignJob(id, hostId) {
      const host = hostId === null ? null : checkText('host id', hostId);
      const row = st.assignJob.get(host, checkText('job id', id));
      if (row === undefined) throw new HavenError('NOT_FOUND', `no job ${id}`);
      return jobOf(row);
    },
    startJob(id) {
      const row = st.startJob.get(clock.now(), checkText('job id', id));
      if (row !== undefined) return jobOf(row);
      const cur = requireJob(id);
      throw new HavenError('FAILED_PRECONDITION', `job ${id} is ${cur.state}, not PENDING`);
    },
    updateJobProgress(id, progress) {
      const row = st.progressJob.get(toJson('progress', progress), checkText('job id', id));
      if (row !== undefined) return jobOf(row);
      const cur = requireJob(id);
      throw new HavenError('FAILED_PRECONDITION', `job ${id} has already ended (${cur.state})`);
    },
    finishJob(id, outcome) {
      const state = outcome?.state;
      if (state !== 'SUCCEEDED' && state !== 'FAILED' && state !== 'CANCELLED') {
        throw invalid(`a job ends as SUCCEEDED, FAILED or CANCELLED, got ${show(state)}`);
      }
      const result = outcome.result === undefined ? null : toJson('result', outcome.result);
      const errorCode = checkOptionalText('errorCode', outcome.errorCode, 100);
      const errorMessage = checkOptionalText('errorMessage', outcome.errorMessage, 10_000);
      const row = st.finishJob.get(state, result, errorCode, errorMessage, clock.now(), checkText('job id', id));
      if (row !== undefined) return jobOf(row);
      const cur = requireJob(id);
      throw new HavenError('FAILED_PRECONDITION', `job ${id} has already ended (${cur.state})`);
    },
  };
}
