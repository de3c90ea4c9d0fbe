import type { ChunkId } from '@haven/core';

/*
 * The controller's point-in-time catalog: sites, hosts, enrollment tokens, audit log, jobs,
 * protection sets, their journals and every file version as a seq interval.
 *
 * The contract is written on `Catalog` below; `describeCatalogContract` (catalog.contract.ts)
 * checks it, and every implementation must pass that suite. The SQLite implementation is
 * `createSqliteCatalog` (sqlite-catalog.ts).
 */

/** Name of the main line of a set's journal; every other branch is a divergent (split-brain) one. */
export const MAIN_BRANCH = 'main';

// ---------------------------------------------------------------------------- sites, hosts

/** This site's identity, written once by `haven-controller init`. */
export interface SiteIdentity {
  readonly id: string;
  readonly name: string;
  readonly createdAtMs: number;
}

export interface PeerSite {
  readonly name: string;
  readonly id: string;
  /** HOST:PORT of the peer controller. */
  readonly address: string;
  /** The peer's CA certificate (PEM); its mTLS peers are trusted through it. */
  readonly caPem: string;
  readonly pairedAtMs: number;
}

export interface NewPeerSite {
  readonly name: string;
  readonly id: string;
  readonly address: string;
  readonly caPem: string;
  /** Defaults to the clock's now. */
  readonly pairedAtMs?: number;
}

export interface Host {
  readonly id: string;
  readonly name: string;
  /** Fingerprint of the host's client certificate: its identity on every connection. */
  readonly certFingerprint: string;
  readonly enrolledAtMs: number;
  readonly lastSeenAtMs: number | null;
  /** Set by `removeHost`; a removed host keeps its row (audit, history) but no longer counts. */
  readonly removedAtMs: number | null;
}

export interface NewHost {
  readonly name: string;
  readonly certFingerprint: string;
  /** Defaults to a random UUID. */
  readonly id?: string;
}

/** A one-time enrollment token. Only its hash is stored; the secret never reaches the catalog. */
export interface EnrollmentToken {
  readonly tokenHash: string;
  readonly hostName: string;
  readonly createdAtMs: number;
  readonly expiresAtMs: number;
  readonly usedAtMs: number | null;
}

export interface NewEnrollmentToken {
  readonly tokenHash: string;
  readonly hostName: string;
  readonly expiresAtMs: number;
}

// ---------------------------------------------------------------------------- audit, jobs

export interface AuditEntry {
  /** Increasing, never reused: tail the log with `listAudit({afterId})`. */
  readonly id: number;
  readonly timeMs: number;
  readonly actor: string;
  readonly action: string;
  readonly target: string;
  /** `OK` or the stable error code the action failed with. */
  readonly result: string;
  readonly details: Readonly<Record<string, unknown>>;
}

export interface NewAuditEntry {
  readonly actor: string;
  readonly action: string;
  readonly target?: string;
  readonly result: string;
  /** Any JSON-serializable object. */
  readonly details?: Readonly<Record<string, unknown>>;
  /** Defaults to the clock's now. */
  readonly timeMs?: number;
}

export interface AuditQuery {
  /** Only entries with a greater id. */
  readonly afterId?: number;
  /** Default 1000. */
  readonly limit?: number;
  /** Default false (oldest first). */
  readonly newestFirst?: boolean;
}

export const JOB_STATES = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type JobState = (typeof JOB_STATES)[number];
export type FinalJobState = Exclude<JobState, 'PENDING' | 'RUNNING'>;

export interface Job {
  readonly id: string;
  /** restore, verify, drill, failover, failback, migrate, resync, ... (lowercase word). */
  readonly kind: string;
  readonly state: JobState;
  readonly setName: string | null;
  /** The host whose agent runs (part of) the job, if any. */
  readonly hostId: string | null;
  readonly spec: unknown;
  readonly progress: unknown;
  readonly result: unknown;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  readonly createdAtMs: number;
  readonly startedAtMs: number | null;
  readonly finishedAtMs: number | null;
}

export interface NewJob {
  readonly kind: string;
  /** Any JSON-serializable value; default {}. */
  readonly spec?: unknown;
  readonly setName?: string;
  readonly hostId?: string;
  /** Defaults to a random UUID. */
  readonly id?: string;
}

export interface JobQuery {
  readonly state?: JobState;
  /** Only PENDING and RUNNING jobs. */
  readonly activeOnly?: boolean;
  readonly kind?: string;
  readonly setName?: string;
  readonly hostId?: string;
  /** Default 1000. */
  readonly limit?: number;
}

export interface JobOutcome {
  readonly state: FinalJobState;
  readonly result?: unknown;
  readonly errorCode?: string;
  readonly errorMessage?: string;
}

// ---------------------------------------------------------------------------- sets

export const SET_KINDS = ['files', 'block'] as const;
export type SetKind = (typeof SET_KINDS)[number];

export const SET_STATES = [
  'INITIAL_SYNC',
  'CONTINUOUS',
  'BACKLOG',
  'RESCAN',
  'PAUSED',
  'STALLED',
  'DISCONNECTED',
  'FAILED_OVER',
] as const;
export type SetState = (typeof SET_STATES)[number];

/** Where a failover materializes the set: a host and a directory or device on it. */
export interface Standby {
  readonly host: string;
  readonly target: string;
}

export interface ProtectionSet {
  /** Stable identity across sites (the same set at its home and replica sites). */
  readonly id: string;
  readonly name: string;
  /** Name of the host whose agent is the set's active source. */
  readonly host: string;
  readonly kind: SetKind;
  /** Absolute directory (files) or device / image path (block) on the host. */
  readonly source: string;
  readonly excludes: readonly string[];
  /** Retention spec as the operator wrote it; null = the site default. */
  readonly retention: string | null;
  /** Site names the set replicates to. */
  readonly replicateTo: readonly string[];
  readonly standby: Standby | null;
  /** Agent commits are acked only once a peer has them (zero RPO). */
  readonly sync: boolean;
  readonly paused: boolean;
  /** Fencing token: starts at 1, only grows. */
  readonly epoch: number;
  /** Name of the site where the set's active agent is. */
  readonly homeSite: string;
  readonly createdAtMs: number;
  /** Seq of the newest main-line point (0 before the first commit). New commits get lastSeq + 1. */
  readonly lastSeq: number;
  readonly lastPointTimeMs: number | null;
  /** Live status, as last reported by the agent. */
  readonly state: SetState;
  readonly lagSeconds: number;
  readonly backlogBytes: number;
  readonly lastReportAtMs: number | null;
}

export interface NewProtectionSet {
  readonly name: string;
  readonly host: string;
  readonly kind: SetKind;
  readonly source: string;
  readonly excludes?: readonly string[];
  readonly retention?: string | null;
  readonly replicateTo?: readonly string[];
  readonly standby?: Standby | null;
  readonly sync?: boolean;
  readonly paused?: boolean;
  /** Defaults to this site's name (see `initLocalSite`). */
  readonly homeSite?: string;
  /** Defaults to a random UUID; a replica site passes the home site's id. */
  readonly id?: string;
}

/** Policy fields `updateSet` may change; absent fields are left alone. */
export interface ProtectionSetPatch {
  readonly host?: string;
  readonly source?: string;
  readonly excludes?: readonly string[];
  readonly retention?: string | null;
  readonly replicateTo?: readonly string[];
  readonly standby?: Standby | null;
  readonly sync?: boolean;
  readonly paused?: boolean;
  readonly homeSite?: string;
}

export interface SetStatusReport {
  readonly state: SetState;
  readonly lagSeconds: number;
  readonly backlogBytes: number;
  /** Defaults to the clock's now. */
  readonly timeMs?: number;
}

export interface EpochChange {
  /** The new epoch; default current + 1. Must not be lower than the current epoch. */
  readonly to?: number;
  /** Move the set's home site in the same step (failover, failback, migration). */
  readonly homeSite?: string;
}

// ---------------------------------------------------------------------------- journal, versions

export type EntryType = 'file' | 'dir' | 'symlink';

/** Metadata of one path at one version. */
export interface EntryMeta {
  readonly type: EntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Modification time in nanoseconds since the Unix epoch (beyond 2^53, hence bigint). */
  readonly mtimeNs: bigint;
  /** Logical size in bytes (files; 0 is fine for dirs and symlinks). */
  readonly size: number;
  /** Content root of a file; null for dirs and symlinks. */
  readonly contentRoot: ChunkId | null;
  /** Target of a symlink; null otherwise. */
  readonly symlinkTarget: string | null;
}

/**
 * Paths are relative to the set's root, `/`-separated, without leading or trailing `/`, empty,
 * `.` or `..` segments or NUL; the root directory itself is `''`.
 */
export interface PutChange {
  readonly op: 'put';
  readonly path: string;
  readonly type: EntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtimeNs: bigint;
  readonly size: number;
  readonly contentRoot?: ChunkId | null;
  readonly symlinkTarget?: string | null;
}

export interface DeleteChange {
  readonly op: 'delete';
  readonly path: string;
}

export type Change = PutChange | DeleteChange;

export interface CommitRequest {
  readonly setName: string;
  /** The writer's epoch; stale epochs are fenced (main branch only). */
  readonly epoch: number;
  /** Idempotency key, unique per set: a retried batch returns its original seq. */
  readonly batchId: string;
  readonly changes: readonly Change[];
  /** Marks an application-consistent point (`haven checkpoint --label`). */
  readonly label?: string;
  /** Point time; defaults to the clock's now. Never earlier than the branch's previous point. */
  readonly timeMs?: number;
  /** A divergent branch (see `forkBranch`); default main. */
  readonly branch?: string;
}

export interface CommitResult {
  readonly seq: number;
  readonly timeMs: number;
  /** True when the batch id was already committed; nothing was changed. */
  readonly duplicate: boolean;
}

/** A recovery point: one journal entry. */
export interface Point {
  readonly seq: number;
  readonly timeMs: number;
  readonly epoch: number;
  readonly batchId: string;
  readonly label: string | null;
  /** Changes in the batch as received (a path sent twice counts twice). */
  readonly changeCount: number;
  /** Sum of the sizes of the file versions the entry added. */
  readonly bytesAdded: number;
  /** `main`, or the name of the divergent branch the entry lives on. */
  readonly branch: string;
}

export interface PointQuery {
  /** Only points with seq >= fromSeq. */
  readonly fromSeq?: number;
  readonly limit?: number;
  /** Also list the points of divergent branches. */
  readonly includeDivergent?: boolean;
  /** List one branch only (ignores includeDivergent). */
  readonly branch?: string;
}

/**
 * A point as callers name it: `{seq}`, `{timeMs}` (the newest point at or before that time),
 * `{latest: true}`, or the same as @haven/core's PointSpec (`{kind: 'seq' | 'time' | 'latest'}`).
 */
export type PointSelector =
  | { readonly seq: number }
  | { readonly timeMs: number }
  | { readonly latest: true }
  | { readonly kind: 'latest' }
  | { readonly kind: 'seq'; readonly seq: number }
  | { readonly kind: 'time'; readonly timeMs: number };

export interface BranchOption {
  /** Default main. */
  readonly branch?: string;
}

/** One path at one point: the version whose interval [seqFrom, seqTo) holds the point. */
export interface Version extends EntryMeta {
  readonly path: string;
  readonly seqFrom: number;
  /** First seq at which this version no longer holds; null while it is current. */
  readonly seqTo: number | null;
}

export interface StateQuery extends BranchOption {
  /** Root of the subtree to list; default `''` (the whole set). */
  readonly prefix?: string;
  /** Default true. When false: the prefix entry and its direct children only (`find -maxdepth 1`). */
  readonly recursive?: boolean;
}

export interface DiffEntry {
  readonly path: string;
  /** Version at fromSeq, null when the path did not exist. */
  readonly before: Version | null;
  /** Version at toSeq, null when the path no longer exists. */
  readonly after: Version | null;
}

export interface Branch {
  readonly name: string;
  /** Last seq shared with main; the branch's own points start at forkSeq + 1. */
  readonly forkSeq: number;
  readonly lastSeq: number;
  readonly lastPointTimeMs: number | null;
  readonly createdAtMs: number;
}

export interface BranchSpec {
  readonly branch: string;
  readonly atSeq: number;
}

/** Which main-line points retention keeps: a set of seqs or a predicate over points. */
export type RetentionKeep = ReadonlySet<number> | ((point: Point) => boolean);

export interface RetentionResult {
  readonly pointsKept: number;
  readonly pointsDropped: number;
  readonly versionsDropped: number;
  /** Sum of the sizes of the dropped file versions (logical bytes; GC reclaims the chunks). */
  readonly bytes: number;
}

/** A version that references a content root, with the points that see it. */
export interface ContentRootUse {
  readonly contentRoot: ChunkId;
  readonly setName: string;
  readonly branch: string;
  readonly path: string;
  readonly seqFrom: number;
  readonly seqTo: number | null;
  /** First and last existing point inside [seqFrom, seqTo); every point between sees the version. */
  readonly points: { readonly first: number; readonly last: number } | null;
}

// ---------------------------------------------------------------------------- the contract

/**
 * The catalog. Every method is synchronous and atomic: a mutation is either entirely visible
 * to the next call or not at all (read-after-write). A mutation that returns has been made
 * durable: `commit` resolving is what lets the controller ack an agent, so it must survive
 * kill -9 and power loss.
 *
 * Errors are HavenErrors with stable codes: INVALID_ARGUMENT for malformed input (checked
 * before anything is written), NOT_FOUND for unknown names / pruned points, ALREADY_EXISTS,
 * FAILED_PRECONDITION for a state that forbids the call, FENCED for stale epochs,
 * UNAUTHENTICATED for unusable enrollment tokens.
 *
 * Journal and versions:
 * - A set's main-line seqs are gapless: commits get 1, 2, 3, ... also after retention drops old
 *   points (the set remembers its last seq).
 * - A commit applies its changes in order, in one transaction, and makes one point. A path
 *   sent twice in one batch: the last change wins. Deleting a path also ends every path
 *   below it (deleting a directory removes its subtree); replacing a directory by a file or
 *   symlink likewise. Parents are never invented: a change below a path that has no version is
 *   stored as sent. A rename is a delete plus a put.
 * - `commit` is idempotent on (set, batchId): a retried batch returns the original seq with
 *   `duplicate: true`, even if the writer's epoch has been fenced since.
 * - A main-line commit with an epoch lower than the set's is refused with FENCED (details carry
 *   `setEpoch`); a higher one with FAILED_PRECONDITION (adopt it with `advanceEpoch` first).
 * - The state at point N is the versions whose interval [seqFrom, seqTo) holds N. It never
 *   changes once N is committed, except by retention, `moveToDivergentBranch` or `removeSet`,
 *   so iterating it while new commits land is consistent.
 * - Point times never go backwards within a branch: a commit earlier than the previous point
 *   is stamped with the previous point's time, so `{timeMs}` selects one well-defined point.
 * - Reads at a seq that is not an existing point fail with NOT_FOUND.
 *
 * Divergent branches (split brain never loses data): a branch has its own points after its
 * fork seq, is listed and readable like main, is never fenced, is skipped by retention and
 * is deleted only by `dropBranch`.
 */
export interface Catalog {
  // -- sites
  getLocalSite(): SiteIdentity | undefined;
  /** Records this site's identity once; the same identity again is a no-op, another is ALREADY_EXISTS. */
  initLocalSite(site: { readonly id: string; readonly name: string }): SiteIdentity;
  addPeerSite(peer: NewPeerSite): PeerSite;
  getPeerSite(name: string): PeerSite | undefined;
  listPeerSites(): PeerSite[];
  updatePeerSite(name: string, patch: { readonly address?: string; readonly caPem?: string }): PeerSite;
  removePeerSite(name: string): void;

  // -- hosts and enrollment
  /** ALREADY_EXISTS when an enrolled (not removed) host has the name or the fingerprint. */
  addHost(host: NewHost): Host;
  /** The enrolled host with this name (removed hosts are not returned). */
  getHost(name: string): Host | undefined;
  /** Any host by id, removed ones included. */
  getHostById(id: string): Host | undefined;
  /** The enrolled host with this certificate fingerprint. */
  getHostByFingerprint(certFingerprint: string): Host | undefined;
  listHosts(options?: { readonly includeRemoved?: boolean }): Host[];
  /** Records that the host was seen now (or at timeMs). */
  touchHost(id: string, timeMs?: number): void;
  removeHost(name: string): Host;
  addEnrollmentToken(token: NewEnrollmentToken): EnrollmentToken;
  /**
   * Marks the token used, atomically: of two concurrent consumers exactly one succeeds.
   * Unknown, used or expired tokens (expiresAtMs <= now) fail with UNAUTHENTICATED.
   */
  consumeEnrollmentToken(tokenHash: string): EnrollmentToken;
  /**
   * Consumes the token and enrolls its host with the certificate fingerprint in one
   * transaction; when the host cannot be added (ALREADY_EXISTS) the token stays unused.
   */
  enrollHost(request: { readonly tokenHash: string; readonly certFingerprint: string; readonly id?: string }): Host;
  /** Tokens not yet used and not expired, or all with includeInactive. */
  listEnrollmentTokens(options?: { readonly includeInactive?: boolean }): EnrollmentToken[];
  /** Deletes used and expired tokens; returns how many. */
  pruneEnrollmentTokens(): number;

  // -- audit
  appendAudit(entry: NewAuditEntry): AuditEntry;
  listAudit(query?: AuditQuery): AuditEntry[];

  // -- jobs: PENDING -> RUNNING -> SUCCEEDED | FAILED | CANCELLED (PENDING may finish directly)
  createJob(job: NewJob): Job;
  getJob(id: string): Job | undefined;
  /** Newest first. */
  listJobs(query?: JobQuery): Job[];
  assignJob(id: string, hostId: string | null): Job;
  /** PENDING -> RUNNING; FAILED_PRECONDITION otherwise. */
  startJob(id: string): Job;
  /** Replaces the progress of a PENDING or RUNNING job. */
  updateJobProgress(id: string, progress: unknown): Job;
  /** Ends a PENDING or RUNNING job; FAILED_PRECONDITION when it has already ended. */
  finishJob(id: string, outcome: JobOutcome): Job;

  // -- sets
  createSet(set: NewProtectionSet): ProtectionSet;
  getSet(name: string): ProtectionSet | undefined;
  listSets(): ProtectionSet[];
  updateSet(name: string, patch: ProtectionSetPatch): ProtectionSet;
  /** Deletes the set with its whole history (journal, versions, divergent branches). */
  removeSet(name: string): void;
  /** Raises the set's epoch (fencing every writer of an older one); FAILED_PRECONDITION if `to` is lower. */
  advanceEpoch(name: string, change?: EpochChange): ProtectionSet;
  reportSetStatus(name: string, report: SetStatusReport): void;

  // -- journal and points
  commit(request: CommitRequest): CommitResult;
  /** Ascending by seq (main first at equal seqs). */
  listPoints(setName: string, query?: PointQuery): Point[];
  resolvePoint(setName: string, selector: PointSelector, options?: BranchOption): Point;
  /**
   * The state at point `seq`, path-ordered (byte order of UTF-8), streamed in pages so huge
   * sets never sit in memory and the iteration never blocks commits.
   */
  stateAt(setName: string, seq: number, query?: StateQuery): Iterable<Version>;
  /** The version of `path` at point `seq`; undefined when the path does not exist there. */
  getVersion(setName: string, path: string, seq: number, options?: BranchOption): Version | undefined;
  /**
   * Paths whose version differs between two points, path-ordered. fromSeq may be 0 (the empty
   * state before the first commit); both seqs are on the same branch.
   */
  diff(setName: string, fromSeq: number, toSeq: number, options?: BranchOption): Iterable<DiffEntry>;

  // -- divergent branches
  /**
   * A new divergent branch whose state at its fork is main's state at `atSeq`; main is not
   * touched. Entries written under a stale epoch after the fork are committed to it.
   */
  forkBranch(setName: string, spec: BranchSpec): Branch;
  /**
   * Moves main's points after `atSeq` (and their versions) to a new divergent branch; main
   * then ends at atSeq and continues with atSeq + 1. The fenced old primary's side of a split brain.
   */
  moveToDivergentBranch(setName: string, spec: BranchSpec): Branch;
  listBranches(setName: string): Branch[];
  /** Deletes a divergent branch with its points and versions (an operator's decision). */
  dropBranch(setName: string, branch: string): void;

  // -- retention, GC, verify
  /**
   * Drops the main-line points not kept and every version whose interval holds no kept point.
   * The latest point is always kept; the state at every kept point is unchanged.
   */
  applyRetention(setName: string, keep: RetentionKeep, options?: { readonly dryRun?: boolean }): RetentionResult;
  /**
   * Distinct content roots referenced by any version of any set and branch, streamed in pages.
   * A root referenced for the whole scan is returned; one first referenced during the scan may
   * be missed (the GC protects chunks touched after its mark started).
   */
  liveContentRoots(): Iterable<ChunkId>;
  /** Every version referencing one of `roots`, with the points that see it. */
  findVersionsByContentRoots(roots: Iterable<ChunkId>): ContentRootUse[];

  close(): void;
}
