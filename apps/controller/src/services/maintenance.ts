import type { MessageInitShape } from '@bufbuild/protobuf';
import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { HavenError, KEEP_ALL_POLICY, chunkIdToBytes, parseRetentionPolicy, planRetention } from '@haven/core';
import type { ChunkId, Clock } from '@haven/core';
import type { GcReportSchema, PruneReportSchema, VerifyReportSchema } from '@haven/proto';
import type { Catalog, ContentRootUse } from '../catalog/catalog.js';
import type { ChunkLocation, ChunkStore } from '../store/chunk-store.js';
import type { ChunkScope } from './chunk-scope.js';
import { wireBranch } from '../rpc/convert.js';
import { walkContentRoot } from './content-walk.js';
import type { ProgressInit } from './job-runner.js';
import type { RwLock } from './rw-lock.js';

type VerifyReport = MessageInitShape<typeof VerifyReportSchema>;
type PruneReport = MessageInitShape<typeof PruneReportSchema>;
type GcReport = MessageInitShape<typeof GcReportSchema>;

export interface MaintenanceDeps {
  catalog: Catalog;
  store: ChunkStore;
  /** Which chunks each set holds: verify of one set reads only those. */
  scope?: ChunkScope;
  gcLock: RwLock;
  clock: Clock;
  /** Site default retention when a set has none (empty keeps everything). */
  defaultRetention?: string;
}

type Progress = (p: ProgressInit) => void;

/** Chunk ids checked against a set's scope at once. */
const SCOPE_PAGE = 1024;

/** Most damaged chunk ids and files listed in one verify report. */
const REPORT_LIST_CAP = 1000;

/** Which stored chunk ids to re-read: all, or a deterministic-per-run random sample. */
function sampled(percent: number): (id: ChunkId) => boolean {
  if (!(percent > 0) || percent >= 100) return () => true;
  const threshold = Math.floor((percent / 100) * 0xffffffff);
  const salt = Math.floor(Math.random() * 0xffffffff);
  // Chunk ids are uniform hashes: their first 4 bytes xor a per-run salt are a fair coin.
  return (id) => ((Number.parseInt(id.slice(0, 8), 16) ^ salt) >>> 0) <= threshold;
}

/**
 * Re-reads (authenticates, decompresses, re-hashes) every stored chunk or a sample, then
 * walks every live content root to find chunks that are missing, and maps each damaged
 * chunk to the files and points that need it.
 */
export async function verifyStore(
  deps: MaintenanceDeps,
  options: { setName?: string; samplePercent: number; signal: AbortSignal; progress: Progress },
): Promise<VerifyReport> {
  const { store, catalog } = deps;
  const pick = sampled(options.samplePercent);
  const damaged = new Set<ChunkId>();
  const stats = await store.stats();
  let checked = 0;
  let bytes = 0;
  const check = async (loc: ChunkLocation): Promise<void> => {
    try {
      await store.get(loc.id);
    } catch (err) {
      if (!(err instanceof HavenError) || (err.code !== 'CORRUPT' && err.code !== 'NOT_FOUND')) throw err;
      damaged.add(loc.id);
    }
    checked++;
    bytes += loc.rawLength;
    if (checked % 256 === 0) {
      options.progress({ phase: 'reading chunks', doneUnits: BigInt(checked), totalUnits: BigInt(stats.chunks), unit: 'chunks', doneBytes: BigInt(bytes), fraction: stats.chunks === 0 ? 1 : (0.8 * checked) / stats.chunks });
    }
  };
  // Verifying one set reads only the chunks it holds: listing the index is cheap, reading
  // every chunk of every other set is not.
  const { setName } = options;
  const scope = setName === undefined ? undefined : deps.scope;
  let page: ChunkLocation[] = [];
  const flush = async (): Promise<void> => {
    const held = scope === undefined || setName === undefined ? page.map(() => true) : scope.has(setName, page.map((l) => l.id));
    for (const [i, loc] of page.entries()) if (held[i] === true) await check(loc);
    page = [];
  };
  for await (const loc of store.list()) {
    options.signal.throwIfAborted();
    if (!pick(loc.id)) continue;
    page.push(loc);
    if (page.length >= SCOPE_PAGE) await flush();
  }
  await flush();
  options.progress({ phase: 'mapping chunks to files', doneUnits: BigInt(checked), totalUnits: BigInt(stats.chunks), unit: 'chunks', fraction: 0.8 });

  // Walk live content roots: find missing chunks, and which roots reach a damaged chunk.
  const damagedRoots = new Set<ChunkId>();
  for (const root of catalog.liveContentRoots()) {
    options.signal.throwIfAborted();
    const reached: ChunkId[] = [];
    await walkContentRoot(
      store,
      root,
      (id) => reached.push(id),
      (id, err) => {
        if (err instanceof HavenError && (err.code === 'CORRUPT' || err.code === 'NOT_FOUND')) {
          damaged.add(id);
          damagedRoots.add(root);
        } else throw err;
      },
    );
    if (damagedRoots.has(root)) continue;
    const present = await store.has(reached);
    reached.forEach((id, i) => {
      if (!present[i]) damaged.add(id);
      if (damaged.has(id)) damagedRoots.add(root);
    });
  }
  const uses = catalog.findVersionsByContentRoots(damagedRoots).filter((u) => options.setName === undefined || u.setName === options.setName);
  // One set's report names only damage the set is exposed to.
  if (scope !== undefined && setName !== undefined) {
    const ids = [...damaged];
    const held = scope.has(setName, ids);
    ids.forEach((id, i) => {
      if (held[i] !== true) damaged.delete(id);
    });
  }
  return {
    samplePercent: options.samplePercent > 0 && options.samplePercent < 100 ? options.samplePercent : 100,
    chunksChecked: BigInt(checked),
    bytesChecked: BigInt(bytes),
    damagedChunks: BigInt(damaged.size),
    // The counts are exact; the lists are capped so a badly damaged store still yields a report.
    damagedChunkIds: [...damaged].sort().slice(0, REPORT_LIST_CAP).map((id) => chunkIdToBytes(id)),
    damagedFiles: uses.slice(0, REPORT_LIST_CAP).map((u) => ({ set: u.setName, path: u.path, branch: wireBranch(u.branch), seqFrom: BigInt(u.seqFrom), seqTo: u.seqTo === null ? 0n : BigInt(u.seqTo) })),
    damagedPoints: damagedPointRuns(uses),
  };
}

/**
 * The points of damaged versions as maximal runs per set and branch. Versions of different
 * files overlap (two can start at the same point and end at different ones), so their point
 * ranges are merged, never keyed and overwritten: a shorter range must not hide a longer one.
 */
function damagedPointRuns(uses: readonly ContentRootUse[]): Array<{ set: string; branch: string; seqFrom: bigint; seqTo: bigint }> {
  const lines = new Map<string, { set: string; branch: string; ranges: Array<[number, number]> }>();
  for (const u of uses) {
    if (u.points === null) continue;
    const key = `${u.setName}\u0000${u.branch}`;
    let line = lines.get(key);
    if (line === undefined) lines.set(key, (line = { set: u.setName, branch: wireBranch(u.branch), ranges: [] }));
    line.ranges.push([u.points.first, u.points.last]);
  }
  const runs: Array<{ set: string; branch: string; seqFrom: bigint; seqTo: bigint }> = [];
  for (const { set, branch, ranges } of lines.values()) {
    ranges.sort((a, b) => a[0] - b[0]);
    let run: [number, number] | undefined;
    for (const [first, last] of ranges) {
      // Seqs are integers: a range starting right after the run continues it.
      if (run !== undefined && first <= run[1] + 1) {
        run[1] = Math.max(run[1], last);
        continue;
      }
      if (run !== undefined) runs.push({ set, branch, seqFrom: BigInt(run[0]), seqTo: BigInt(run[1]) });
      run = [first, last];
    }
    if (run !== undefined) runs.push({ set, branch, seqFrom: BigInt(run[0]), seqTo: BigInt(run[1]) });
  }
  return runs;
}

/** Applies each set's retention policy (or reports what it would drop, with reasons). */
export function pruneSets(deps: MaintenanceDeps, options: { dryRun: boolean; setName?: string }): PruneReport {
  const { catalog } = deps;
  const sets = catalog.listSets().filter((s) => options.setName === undefined || s.name === options.setName);
  if (options.setName !== undefined && sets.length === 0) throw new HavenError('NOT_FOUND', `no set "${options.setName}"`);
  const now = deps.clock.now();
  const reports = sets.map((set) => {
    const spec = set.retention ?? deps.defaultRetention ?? '';
    const policy = spec === '' ? KEEP_ALL_POLICY : parseRetentionPolicy(spec);
    const points = catalog.listPoints(set.name);
    const plan = planRetention(points.map((p) => ({ seq: p.seq, timeMs: p.timeMs, label: p.label ?? undefined })), policy, now);
    const keep = new Set(plan.filter((d) => d.keep).map((d) => d.seq));
    const result = catalog.applyRetention(set.name, keep, { dryRun: options.dryRun });
    return {
      set: set.name,
      pointsKept: BigInt(result.pointsKept),
      pointsDropped: BigInt(result.pointsDropped),
      versionsDropped: BigInt(result.versionsDropped),
      bytesDropped: BigInt(result.bytes),
      decisions: plan.map((d) => ({ branch: '', seqFrom: BigInt(d.seq), seqTo: BigInt(d.seq), kept: d.keep, reason: d.reasons.join(', ') })),
    };
  });
  return { dryRun: options.dryRun, sets: reports };
}

/**
 * Mark-and-sweep while ingest continues. The mark starts a new store generation under
 * the exclusive GC lock (commits hold it shared), so every commit is either before the
 * mark — its roots are live in the catalog — or after it, and then every chunk it relied
 * on was put or touched at the new generation and survives the sweep.
 */
export async function collectGarbage(
  deps: MaintenanceDeps,
  options: {
    signal: AbortSignal;
    progress: Progress;
    /** Unreferenced chunks put or deduplicated against within this span are kept (default 0). */
    graceMs?: number;
  },
): Promise<GcReport> {
  const { store, catalog, gcLock } = deps;
  const started = deps.clock.now();
  const generation = await gcLock.exclusive(() => store.beginGcGeneration());
  const live = new Set<ChunkId>();
  let unreadable = 0;
  let roots = 0;
  for (const root of catalog.liveContentRoots()) {
    options.signal.throwIfAborted();
    roots++;
    await walkContentRoot(
      store,
      root,
      (id) => live.add(id),
      () => {
        unreadable++;
      },
    );
    if (roots % 1000 === 0) options.progress({ phase: 'mark', doneUnits: BigInt(roots), unit: 'content roots', fraction: 0.3 });
  }
  if (unreadable > 0) {
    // A damaged list hides which data chunks are live: sweeping could delete data that
    // verify and repair still need. Refuse instead of guessing.
    throw new HavenError('FAILED_PRECONDITION', `${unreadable} content list(s) are unreadable; run \`haven verify\` before gc`);
  }
  options.progress({ phase: 'sweep', doneUnits: BigInt(live.size), unit: 'live chunks', fraction: 0.6 });
  // Generations are the store's only record of when a chunk was last touched: with a grace,
  // everything touched since the previous gc is kept (the generation now ending was current
  // within the grace), and so is every older generation that was current within it.
  const graceMs = options.graceMs ?? 0;
  const swept = await store.sweep(generation, (id) => live.has(id), graceMs > 0 ? { keepTouchedSinceMs: deps.clock.now() - graceMs } : {});
  options.progress({ phase: 'compact', fraction: 0.8 });
  const compacted = await store.compact();
  return {
    chunksMarked: BigInt(live.size),
    chunksSwept: BigInt(swept.deletedChunks),
    bytesFreed: BigInt(compacted.bytesFreed),
    packsRewritten: BigInt(compacted.packsRewritten),
    packsDeleted: BigInt(compacted.packsDeleted),
    duration: durationFromMs(deps.clock.now() - started),
  };
}
