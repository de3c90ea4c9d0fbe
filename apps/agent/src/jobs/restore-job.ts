import type { MessageInitShape } from '@bufbuild/protobuf';
import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { HavenError, chunkIdFromBytes, chunkIdToBytes, isWithin } from '@haven/core';
import type { ChunkId } from '@haven/core';
import { EntryType } from '@haven/proto';
import type { AgentService, Client, FileEntry, ProgressSchema, RestoreJobSpec, RestoreResultSchema } from '@haven/proto';
import { decodeWireChunk, localRestore } from '@haven/restore';
import type { RestoreEntry } from '@haven/restore';

const RESTORE_CONCURRENCY = 16;

const TYPES: Partial<Record<EntryType, RestoreEntry['type']>> = {
  [EntryType.FILE]: 'file',
  [EntryType.DIR]: 'dir',
  [EntryType.SYMLINK]: 'symlink',
};

/** A wire entry -> what the restore writer needs. */
export function restoreEntryOf(e: FileEntry): RestoreEntry | undefined {
  const type = TYPES[e.type];
  if (type === undefined) return undefined;
  return {
    path: e.path,
    type,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    size: Number(e.size),
    ...(e.mtime === undefined ? {} : { mtimeMs: Number(e.mtime.seconds) * 1000 + e.mtime.nanos / 1e6 }),
    ...(e.contentRoot.length === 0 ? {} : { contentRoot: chunkIdFromBytes(e.contentRoot) }),
    ...(e.symlinkTarget === '' ? {} : { symlinkTarget: e.symlinkTarget }),
  };
}

/**
 * A restore job on this host: list the point's entries, fetch chunks from the controller
 * (many in flight), write them under the target with the shared restore writer (temp file,
 * verify, fsync, rename; never outside the target).
 */
export async function runRestoreJob(options: {
  client: Client<typeof AgentService>;
  spec: RestoreJobSpec;
  jobId: string;
  signal: AbortSignal;
  progress: (p: MessageInitShape<typeof ProgressSchema>) => void;
}): Promise<MessageInitShape<typeof RestoreResultSchema>> {
  const { client, spec, jobId, signal } = options;
  if (!spec.target.startsWith('/')) throw new HavenError('INVALID_ARGUMENT', `restore target must be absolute, got "${spec.target}"`);
  const started = Date.now();
  const wanted = spec.paths;
  let totalBytes = 0;
  const entries: RestoreEntry[] = [];
  for await (const page of client.listFiles(
    { set: spec.set, point: { point: { case: 'seq', value: spec.seq }, branch: spec.branch }, recursive: true, jobId },
    { signal },
  )) {
    for (const e of page.entries) {
      if (wanted.length > 0 && !wanted.some((p) => isWithin(p, e.path) || isWithin(e.path, p))) continue;
      const r = restoreEntryOf(e);
      if (r === undefined) continue;
      entries.push(r);
      totalBytes += r.type === 'file' ? r.size : 0;
    }
  }
  const fetch = async (ids: readonly ChunkId[]): Promise<Uint8Array[]> => {
    const out: Uint8Array[] = [];
    for await (const r of client.downloadChunks({ set: spec.set, ids: ids.map((id) => chunkIdToBytes(id)), jobId }, { signal })) {
      const expected = ids[out.length];
      if (expected === undefined) throw new HavenError('CORRUPT', `DownloadChunks sent more than the ${ids.length} chunks asked for`);
      // Chunks arrive in their stored form (zstd when it paid); localRestore verifies each hash.
      out.push(decodeWireChunk(r.chunk, expected));
    }
    if (out.length !== ids.length) throw new HavenError('CORRUPT', `DownloadChunks sent ${out.length} of ${ids.length} chunks`);
    return out;
  };
  let lastTick = 0;
  const report = await localRestore({
    target: spec.target,
    entries,
    fetch,
    // fsync latency, not bandwidth, bounds small files: keep many in flight.
    concurrency: RESTORE_CONCURRENCY,
    onProgress: (r) => {
      const now = Date.now();
      if (now - lastTick < 250) return;
      lastTick = now;
      options.progress({
        phase: 'writing',
        doneUnits: BigInt(r.files + r.dirs + r.symlinks),
        totalUnits: BigInt(entries.length),
        unit: 'entries',
        doneBytes: BigInt(r.bytes),
        totalBytes: BigInt(totalBytes),
        fraction: totalBytes > 0 ? r.bytes / totalBytes : (r.files + r.dirs + r.symlinks) / Math.max(1, entries.length),
      });
    },
  });
  if (report.failed > 0) {
    const f = report.failures[0];
    throw new HavenError('CORRUPT', `${report.failed} entries could not be restored; first: ${f?.path ?? '?'}: ${f?.code ?? ''} ${f?.message ?? ''}`);
  }
  return {
    seq: spec.seq,
    branch: spec.branch,
    files: BigInt(report.files),
    bytes: BigInt(report.bytes),
    fetchedBytes: BigInt(report.bytes),
    skipped: BigInt(report.skipped),
    duration: durationFromMs(Date.now() - started),
  };
}
