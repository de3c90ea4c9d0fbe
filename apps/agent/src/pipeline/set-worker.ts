import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { TimestampSchema } from '@bufbuild/protobuf/wkt';
import { HavenError, chunkIdToBytes, createExcludeMatcher, errorCodeOf } from '@haven/core';
import type { Clock } from '@haven/core';
import { EntryType, SetState } from '@haven/proto';
import type { FileChange } from '@haven/proto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { FileChangeSchema } from '@haven/proto';
import type { Logger } from '@haven/runtime';
import { createWatcher, metaChanged, readFileStable, reconcile, resolveRoot, statEntry } from '../capture/index.js';
import type { EntryMeta, KnownUpsert, PendingItem, StateDb, Watcher } from '../capture/index.js';
import type { ChunkUploader } from '../uplink/chunk-uploader.js';
import type { Uplink } from '../uplink/uplink.js';
import { releaseMemory } from './release-memory.js';
import { createChunkSink, createContentSender } from './send-content.js';
import type { ChunkSink } from './send-content.js';

export interface SetWorkerConfig {
  name: string;
  path: string;
  excludes: readonly string[];
  epoch: number;
  paused: boolean;
  debounceMs?: number;
  rescanIntervalMs?: number;
}

export interface SetStatus {
  set: string;
  state: SetState;
  lagSeconds: number;
  backlogBytes: number;
  backlogFiles: number;
  lastCommittedSeq: number;
  lastError?: { code: string; message: string };
}

export interface SetWorker {
  readonly name: string;
  update(config: SetWorkerConfig): void;
  /** Queue a full reconcile now (admin rescan, watcher overflow). */
  rescan(): Promise<number>;
  status(): Promise<SetStatus>;
  /** Resolves once nothing is pending (or `timeoutMs` passes); for tests and restores. */
  idle(timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

/** Paths committed per journal entry; bursts beyond it become several points. */
const BATCH_PATHS = 2000;
/** Entries prepared concurrently within a batch. */
const PREPARE_CONCURRENCY = 8;
/** Backlog bytes are estimated from at most this many queued paths, at most this often. */
const BACKLOG_SAMPLE = 500;
const BACKLOG_EVERY_MS = 5000;
/** Pause before retrying after the controller was unreachable or refused a batch. */
const RETRY_MS = 1000;
const UNSTABLE_DEFER_MS = 2000;
const DEFAULT_RESCAN_MS = 3_600_000;
/** Quiet time that ends a burst of file events. */
const DEFAULT_DEBOUNCE_MS = 50;
/**
 * Longest a changed path waits in the watcher before it is queued, however busy the tree.
 * Under a steady stream of writes (logs, caches: 50 small files/s) events never pause for
 * the debounce, so the watcher delivers only at this bound and a write waits half of it on
 * average before it is even queued: at the watcher's default of 1 s, the change-to-durable
 * lag of a 4 KiB write was near 1 s at p50 (`npm run bench -- --only lag`). Lower means
 * more, smaller journal entries under steady load; the drain loop still gathers whatever
 * queues while a batch is in flight into one.
 */
const MAX_CAPTURE_DELAY_MS = 200;
const DEGRADED_RESCAN_MS = 60_000;
/** Paths sent since the last full GC after which an idle worker runs one (see releaseMemory). */
const RELEASE_AFTER_PATHS = 5000;
const RESCAN_TICK_MS = 5_000;
type ChangeInit = MessageInitShape<typeof FileChangeSchema>;

function toTimestamp(ns: bigint) {
  return create(TimestampSchema, { seconds: ns / 1_000_000_000n, nanos: Number(ns % 1_000_000_000n) });
}

function changeOf(path: string, meta: EntryMeta, contentRoot: string | null): ChangeInit {
  const type = meta.type === 'file' ? EntryType.FILE : meta.type === 'dir' ? EntryType.DIR : EntryType.SYMLINK;
  return {
    path,
    type,
    mode: meta.mode,
    uid: meta.uid,
    gid: meta.gid,
    mtime: toTimestamp(meta.mtimeNs),
    size: meta.type === 'file' ? meta.size : 0n,
    ...(contentRoot === null ? {} : { contentRoot: chunkIdToBytes(contentRoot) }),
    ...(meta.symlinkTarget === null ? {} : { symlinkTarget: meta.symlinkTarget }),
  };
}

/**
 * Protects one directory tree: a full reconcile at start (and periodically, and after
 * watcher errors) plus watcher events fill the persistent queue; one loop drains it —
 * read safely, chunk, upload what the controller lacks, commit, then record what the
 * controller acknowledged. The queue lives in the state DB, so an agent restart or a
 * controller outage loses nothing.
 */
export function createSetWorker(deps: {
  config: SetWorkerConfig;
  db: StateDb;
  uplink: Uplink;
  uploader: ChunkUploader;
  clock: Clock;
  logger: Logger;
  /** True while the session to the controller is up. */
  online: () => boolean;
  /** Called when the set's status moved (a commit recorded, a scan ended): report it now. */
  onChange?: () => void;
}): SetWorker {
  let config = deps.config;
  const set = config.name;
  const log = deps.logger.child({ set });
  const db = deps.db;
  let exclude = createExcludeMatcher(config.excludes);
  let stopped = false;
  let watcher: Watcher | undefined;
  let realRoot = '';
  let wake: (() => void) | undefined;
  let scanning = false;
  let initialDone = db.getSetState(set).scanGeneration > 0;
  let lastError: { code: string; message: string } | undefined;
  let fenced = false;
  let rescanTimer: NodeJS.Timeout | undefined;
  const idleWaiters = new Set<() => void>();
  let backlog = { bytes: 0, atMs: 0 };
  let pathsSinceRelease = 0;

  const poke = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const sleep = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });

  let reconciling: Promise<void> | undefined;
  let again = false;
  /** One full reconcile at a time; requests during a run coalesce into one more run. */
  function fullReconcile(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (reconciling !== undefined) {
      again = true;
      return reconciling;
    }
    reconciling = (async () => {
      scanning = true;
      try {
        do {
          again = false;
          const r = await reconcile(set, realRoot, db, exclude, { clock: deps.clock });
          initialDone = true;
          log.info('reconcile done', { scanned: r.scanned, new: r.new, modified: r.modified, deleted: r.deleted, ms: r.durationMs });
        } while (again && !stopped);
      } finally {
        scanning = false;
        reconciling = undefined;
        poke();
        deps.onChange?.();
      }
    })();
    return reconciling;
  }

  function openWatcher(): Promise<Watcher> {
    return createWatcher({
      root: realRoot,
      exclude,
      debounceMs: config.debounceMs ?? DEFAULT_DEBOUNCE_MS,
      maxDelayMs: Math.max(config.debounceMs ?? DEFAULT_DEBOUNCE_MS, MAX_CAPTURE_DELAY_MS),
      onPaths: (paths) => {
        db.enqueue(set, paths, 'watch');
        poke();
      },
      onError: (err) => {
        log.warn('watcher lost events; reconciling', { code: err.code, message: err.message });
        void fullReconcile().catch((e: unknown) => log.error('reconcile failed', { err: e }));
      },
    });
  }

  /**
   * The watcher applies the exclude rule it was opened with (which directories get a watch
   * at all), so new excludes take a new watcher; the full reconcile that follows finds what
   * changed in between.
   */
  let rewatching: Promise<void> = Promise.resolve();
  function rewatch(): Promise<void> {
    rewatching = rewatching.then(async () => {
      if (stopped || realRoot === '' || watcher === undefined) return;
      const old = watcher;
      watcher = await openWatcher();
      await old.close();
      if (stopped) await watcher.close();
    });
    return rewatching;
  }

  async function startCapture(): Promise<void> {
    realRoot = await resolveRoot(config.path);
    watcher = await openWatcher();
    await fullReconcile();
    const every = config.rescanIntervalMs ?? DEFAULT_RESCAN_MS;
    let last = deps.clock.now();
    // A degraded watcher (watch limit, overflow) misses events for good: rescan more often.
    rescanTimer = setInterval(() => {
      const due = watcher?.degraded === true ? Math.min(every, DEGRADED_RESCAN_MS) : every;
      if (deps.clock.now() - last < due) return;
      last = deps.clock.now();
      void fullReconcile().catch((e: unknown) => log.error('reconcile failed', { err: e }));
    }, RESCAN_TICK_MS);
    rescanTimer.unref();
  }

  /** Turns a batch of queued paths into changes, uploading file contents as it goes. */
  async function prepare(items: readonly PendingItem[], sink: ChunkSink): Promise<{ changes: ChangeInit[]; upserts: KnownUpsert[]; deletes: string[]; done: PendingItem[]; deferred: string[] }> {
    const changes: ChangeInit[] = [];
    const upserts: KnownUpsert[] = [];
    const deletes: string[] = [];
    const done: PendingItem[] = [];
    const deferred: string[] = [];
    const one = async (item: PendingItem): Promise<void> => {
      const probe = await statEntry(realRoot, item.path, exclude);
      const known = db.getKnown(set, item.path);
      if (!('entry' in probe)) {
        // Gone, excluded or no longer capturable: it is a delete if the controller has it.
        if ('error' in probe && probe.error !== 'ENOENT' && probe.error !== 'ENOTDIR' && probe.error !== undefined) {
          deferred.push(item.path);
          return;
        }
        if (known !== undefined) {
          changes.push({ path: item.path, deleted: true });
          deletes.push(item.path);
        }
        done.push(item);
        return;
      }
      const meta = probe.entry.meta;
      // Watcher paths are hints (parents, raw events): an entry whose metadata the
      // controller already has is not a change.
      if (known !== undefined && !metaChanged(known.meta, meta)) {
        done.push(item);
        return;
      }
      if (meta.type === 'dir') {
        // A directory that is new here (created, moved in) may hold children no event named.
        if (known === undefined || known.meta.ino !== meta.ino) {
          await reconcile(set, realRoot, db, exclude, { under: item.path, clock: deps.clock });
        }
        changes.push(changeOf(item.path, meta, null));
        upserts.push({ path: item.path, meta, contentRoot: null });
        done.push(item);
        return;
      }
      if (meta.type === 'symlink') {
        changes.push(changeOf(item.path, meta, null));
        upserts.push({ path: item.path, meta, contentRoot: null });
        done.push(item);
        return;
      }
      // A file whose contents are unchanged (same identity) keeps its content root.
      if (known?.contentRoot != null && known.meta.type === 'file' && known.meta.size === meta.size && known.meta.mtimeNs === meta.mtimeNs && known.meta.ino === meta.ino && known.meta.ctimeNs === meta.ctimeNs) {
        changes.push(changeOf(item.path, meta, known.contentRoot));
        upserts.push({ path: item.path, meta, contentRoot: known.contentRoot });
        done.push(item);
        return;
      }
      const sender = createContentSender(sink);
      const r = await readFileStable(join(realRoot, item.path), {
        within: realRoot,
        onData: (buf) => sender.push(buf),
        onRestart: () => sender.reset(),
      });
      if (r.status === 'ok') {
        const sent = await sender.finish();
        changes.push(changeOf(item.path, r.meta, sent.contentRoot));
        upserts.push({ path: item.path, meta: r.meta, contentRoot: sent.contentRoot });
        done.push(item);
      } else if (r.status === 'unstable' || r.status === 'not-a-file') {
        // Still changing, or it became a directory or symlink while we looked: probe again soon.
        deferred.push(item.path);
      } else {
        if (known !== undefined) {
          changes.push({ path: item.path, deleted: true });
          deletes.push(item.path);
        }
        done.push(item);
      }
        };
    // Files are read, chunked and offered to the sink several at a time: a batch is bound by
    // round trips and syscalls, not CPU, so overlapping them is what makes it fast.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) await one(items[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(PREPARE_CONCURRENCY, items.length) }, worker));
    // The catalog applies changes in order, as the state DB applies deletes before upserts:
    // deletes first, then puts parents before children.
    changes.sort((a, b) => (a.deleted === true) !== (b.deleted === true) ? (a.deleted === true ? -1 : 1) : (a.path ?? '') < (b.path ?? '') ? -1 : 1);
    return { changes, upserts, deletes, done, deferred };
  }

  async function drainOnce(): Promise<boolean> {
    const items = db.nextPending(set, BATCH_PATHS);
    if (items.length === 0) return false;
    pathsSinceRelease += items.length;
    const t0 = deps.clock.now();
    const sink = createChunkSink(deps.uploader, set);
    const { changes, upserts, deletes, done, deferred } = await prepare(items, sink);
    const t1 = deps.clock.now();
    await sink.flush();
    const t2 = deps.clock.now();
    if (deferred.length > 0) db.deferPending(set, deferred, deps.clock.now() + UNSTABLE_DEFER_MS);
    if (changes.length === 0) {
      db.completePending(set, done);
      return deferred.length < items.length;
    }
    const batchId = randomUUID();
    // Retry the same batch id while the controller is flaky: a retried batch that did land
    // returns its original seq instead of committing twice.
    for (;;) {
      try {
        const res = await deps.uplink.commit({ set, epoch: BigInt(config.epoch), batchId, changes: changes as FileChange[] });
        const t3 = deps.clock.now();
        db.applyCommit(set, { seq: Number(res.seq), epoch: config.epoch, upserts, deletes, completed: done });
        log.debug('batch committed', {
          seq: Number(res.seq),
          changes: changes.length,
          sentChunks: sink.stats.sent,
          sentBytes: sink.stats.sentBytes,
          prepareMs: t1 - t0,
          uploadMs: t2 - t1,
          commitMs: t3 - t2,
          recordMs: deps.clock.now() - t3,
        });
        lastError = undefined;
        deps.onChange?.();
        return true;
      } catch (err) {
        const code = errorCodeOf(err);
        if (code === 'FENCED') {
          fenced = true;
          throw err;
        }
        if (code === 'FAILED_PRECONDITION' && err instanceof HavenError && err.details['missing'] !== undefined) {
          // The controller lost chunks it had acknowledged (it crashed before syncing them):
          // read the files again; find-missing now tells what to resend.
          log.warn('controller lacks chunks of this batch; re-reading', { missing: err.details['missingCount'] });
          return true;
        }
        if (stopped) throw err;
        await sleep(RETRY_MS);
      }
    }
  }

  async function loop(): Promise<void> {
    while (!stopped) {
      if (config.paused || fenced || !deps.online() || realRoot === '') {
        await sleep(RETRY_MS);
        continue;
      }
      try {
        const worked = await drainOnce();
        if (!worked) {
          for (const w of idleWaiters) w();
          idleWaiters.clear();
          if (pathsSinceRelease >= RELEASE_AFTER_PATHS) {
            pathsSinceRelease = 0;
            releaseMemory();
          }
          await sleep(RETRY_MS);
        }
      } catch (err) {
        lastError = { code: errorCodeOf(err), message: err instanceof Error ? err.message : String(err) };
        if (!stopped) log.warn('batch failed; will retry', { code: lastError.code, message: lastError.message });
        await sleep(RETRY_MS);
      }
    }
  }

  const ready = startCapture().catch((err: unknown) => {
    lastError = { code: errorCodeOf(err), message: err instanceof Error ? err.message : String(err) };
    log.error('cannot capture set', { code: lastError.code, message: lastError.message });
  });
  const running = ready.then(loop);

  return {
    name: set,
    update(next) {
      const excludesChanged = JSON.stringify(next.excludes) !== JSON.stringify(config.excludes);
      config = next;
      if (excludesChanged) {
        exclude = createExcludeMatcher(next.excludes);
        void rewatch()
          .catch((e: unknown) => log.error('cannot watch with the new excludes; relying on scans', { err: e }))
          .then(() => fullReconcile())
          .catch(() => undefined);
      }
      if (next.epoch > 0) fenced = false;
      poke();
    },
    async rescan() {
      await fullReconcile();
      return db.pendingStats(set).count;
    },
    async status() {
      const pending = db.pendingStats(set);
      const now = deps.clock.now();
      const lag = pending.oldestFirstSeenMs === null ? 0 : Math.max(0, now - pending.oldestFirstSeenMs) / 1000;
      if (pending.count === 0) backlog = { bytes: 0, atMs: now };
      else if (now - backlog.atMs >= BACKLOG_EVERY_MS) {
        // Sizes of a sample of queued paths, scaled to the queue: stat'ing a huge queue every
        // report would cost more than it tells.
        const sample = db.nextPending(set, BACKLOG_SAMPLE);
        let bytes = 0;
        for (const p of sample) {
          try {
            bytes += (await stat(join(realRoot, p.path))).size;
          } catch {
            // vanished: a delete costs nothing to send
          }
        }
        backlog = { bytes: sample.length === 0 ? 0 : Math.round((bytes / sample.length) * pending.count), atMs: now };
      }
      const backlogBytes = backlog.bytes;
      const state = config.paused
        ? SetState.PAUSED
        : scanning
          ? SetState.RESCAN
          : !initialDone || db.getSetState(set).committedSeq === 0
            ? SetState.INITIAL_SYNC
            : pending.count > 0 && lag > 10
              ? SetState.BACKLOG
              : lastError !== undefined && lag > 60
                ? SetState.STALLED
                : SetState.CONTINUOUS;
      return {
        set,
        state: initialDone && pending.count === 0 && state === SetState.INITIAL_SYNC ? SetState.CONTINUOUS : state,
        lagSeconds: lag,
        backlogBytes,
        backlogFiles: pending.count,
        lastCommittedSeq: db.getSetState(set).committedSeq,
        ...(lastError === undefined ? {} : { lastError }),
      };
    },
    idle(timeoutMs) {
      return new Promise<boolean>((resolve) => {
        if (initialDone && db.pendingStats(set).count === 0) return resolve(true);
        const t = setTimeout(() => {
          idleWaiters.delete(done);
          resolve(false);
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(t);
          resolve(true);
        };
        idleWaiters.add(done);
      });
    },
    async stop() {
      stopped = true;
      if (rescanTimer !== undefined) clearInterval(rescanTimer);
      poke();
      await rewatching.catch(() => undefined);
      await watcher?.close();
      await running;
    },
  };
}
