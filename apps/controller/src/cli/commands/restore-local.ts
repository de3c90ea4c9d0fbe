import { create } from '@bufbuild/protobuf';
import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { HavenError } from '@haven/core';
import { EntryType, PointSelectorSchema, RestoreResultSchema } from '@haven/proto';
import type { FileEntry, Point, PointSelector } from '@haven/proto';
import { localRestore } from '@haven/restore';
import type { LocalRestoreReport, RestoreEntry } from '@haven/restore';
import type { CliContext } from '../context.js';
import { formatPoint } from '../format.js';
import { jsonOf, printLines, printTable, write } from '../output.js';
import { createProgressLine } from '../progress-line.js';
import { createReadChunksFetch } from '../read-chunks.js';
import { formatBytes } from '../render-table.js';

export interface LocalRestoreRequest {
  set: string;
  point: PointSelector | undefined;
  /** Normalized entry paths, each restored with its subtree; empty for the whole set. */
  paths: readonly string[];
  dir: string;
  overwrite: 'always' | 'never';
}

/** A catalog entry as the writer's input; undefined for types a directory cannot hold. */
export function restoreEntryOf(e: FileEntry, set: string): RestoreEntry | undefined {
  const base = {
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    size: Number(e.size),
    mtimeMs: e.mtime === undefined ? undefined : Number(e.mtime.seconds) * 1000 + e.mtime.nanos / 1e6,
    // Hex of whatever arrived: a malformed root fails that entry in the writer, not the restore.
    contentRoot: e.contentRoot.length === 0 ? undefined : Buffer.from(e.contentRoot).toString('hex'),
  };
  switch (e.type) {
    case EntryType.FILE:
      return { ...base, path: e.path, type: 'file' };
    case EntryType.BLOCK_DEVICE:
      // A block set's only entry is its device, at path "": restored as an image file.
      return { ...base, path: e.path === '' ? `${set}.img` : e.path, type: 'file' };
    case EntryType.DIR:
      return { ...base, path: e.path, type: 'dir' };
    case EntryType.SYMLINK:
      return { ...base, path: e.path, type: 'symlink', symlinkTarget: e.symlinkTarget };
    default:
      return undefined;
  }
}

/**
 * `haven restore --local DIR`: lists the point with ListFiles (every path at the seq the first
 * listing resolved, so a moving `latest` cannot mix points), fetches chunks with ReadChunks and
 * writes with `localRestore` on this machine.
 */
export async function restoreLocally(ctx: CliContext, req: LocalRestoreRequest): Promise<number> {
  const admin = ctx.admin();
  const stats = { fetchedBytes: 0 };
  let resolved: Point | undefined;
  let unsupported = 0;
  async function* entries(): AsyncGenerator<RestoreEntry> {
    let selector = req.point;
    for (const root of req.paths.length === 0 ? [''] : req.paths) {
      const stream = admin.listFiles({ set: req.set, path: root, recursive: true, ...(selector === undefined ? {} : { point: selector }) });
      for await (const res of stream) {
        if (res.point !== undefined && resolved === undefined) {
          resolved = res.point;
          selector = create(PointSelectorSchema, { point: { case: 'seq', value: res.point.seq }, branch: res.point.branch });
        }
        for (const e of res.entries) {
          const entry = restoreEntryOf(e, req.set);
          if (entry === undefined) unsupported++;
          else yield entry;
        }
      }
    }
  }
  const progress = ctx.json ? undefined : createProgressLine(ctx.io, ctx.clock);
  const started = ctx.clock.now();
  const report = await localRestore({
    target: req.dir,
    entries: entries(),
    fetch: createReadChunksFetch(admin, req.set, stats),
    overwrite: req.overwrite,
    preserveOwner: process.getuid?.() === 0,
    onProgress: (r) => progress?.update(`restoring into ${req.dir}: ${r.files + r.dirs + r.symlinks} entries, ${formatBytes(r.bytes)}`, 'running'),
  });
  progress?.done();
  const result = create(RestoreResultSchema, {
    seq: resolved?.seq ?? 0n,
    branch: resolved?.branch ?? '',
    files: BigInt(report.files + report.dirs + report.symlinks),
    bytes: BigInt(report.bytes),
    fetchedBytes: BigInt(stats.fetchedBytes),
    skipped: BigInt(report.skipped + unsupported),
    duration: durationFromMs(ctx.clock.now() - started),
  });
  if (ctx.json) {
    await write(ctx.io.stdout, `${JSON.stringify({ ...(jsonOf(RestoreResultSchema, result) as object), failures: report.failures }, null, 2)}\n`);
  } else {
    await printReport(ctx, req, resolved, report, stats.fetchedBytes, unsupported);
  }
  if (report.failed > 0) {
    const first = report.failures[0];
    throw new HavenError(first?.code ?? 'INTERNAL', `${report.failed} entries were not restored (first: ${first?.path ?? '?'}: ${first?.message ?? '?'})`);
  }
  return 0;
}

async function printReport(ctx: CliContext, req: LocalRestoreRequest, point: Point | undefined, r: LocalRestoreReport, fetched: number, unsupported: number): Promise<void> {
  await printLines(
    ctx.io.stdout,
    `restored ${req.set} at ${formatPoint(point)} into ${req.dir}`,
    `${r.files} files (${formatBytes(r.bytes)}), ${r.dirs} directories, ${r.symlinks} symlinks; ${r.chunks} chunks verified, ${formatBytes(fetched)} fetched`,
    ...(r.skipped + unsupported > 0 ? [`skipped ${r.skipped} existing entries, ${unsupported} of unsupported types`] : []),
  );
  if (r.failures.length > 0) await printTable(ctx.io.stdout, ['FAILED', 'CODE', 'REASON'], r.failures.map((f) => [f.path, f.code, f.message]));
}
