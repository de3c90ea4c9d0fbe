import { closeSync, fsyncSync, ftruncateSync, openSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { ChunkId } from '@haven/core';
import { PACK_NAME, fsyncDir, packName } from './pack-files.js';
import type { PackFiles } from './pack-files.js';
import type { PackIndex } from './pack-index.js';
import { PACK_HEADER_BYTES } from './pack-record.js';

/** What open-time recovery found and repaired. */
export interface RecoveryReport {
  /** Bytes cut from the open pack's tail: torn records, or records no index commit covers. */
  readonly truncatedBytes: number;
  /** Pack files no index commit knows (created, then crashed before their first commit; or deleted by compaction). */
  readonly removedPackFiles: readonly string[];
  /**
   * Index entries whose bytes are gone (pack missing or shorter than the entry). They are
   * removed, so has() answers false and the next upload of the chunk stores it again.
   */
  readonly lostChunks: readonly ChunkId[];
}

/** In-memory state of one pack file. */
export interface Pack {
  readonly id: number;
  readonly createdMs: number;
  /** End of the last record reserved in this pack. */
  size: number;
  /** No more appends. */
  sealed: boolean;
  /** Changed since the last index commit (records, creation or sealing): the next sync covers it. */
  dirty: boolean;
}

export interface RecoveredPacks {
  readonly packs: Map<number, Pack>;
  readonly open: Pack | undefined;
  readonly nextPackId: number;
  readonly report: RecoveryReport;
}

/**
 * Brings a pack directory and its index back into agreement after any stop, clean or not.
 * See createPackStore for the rules; every repair is listed in the returned report.
 */
export async function recoverPacks(index: PackIndex, files: PackFiles): Promise<RecoveredPacks> {
  const rows = index.packs();
  const known = new Set(rows.map((r) => r.id));
  const onDisk = new Set<number>();
  const removedPackFiles: string[] = [];
  const lostChunks: ChunkId[] = [];
  let truncatedBytes = 0;
  let maxId = 0;

  for (const name of readdirSync(files.dir)) {
    const m = PACK_NAME.exec(name);
    if (!m?.[1]) continue;
    const id = Number.parseInt(m[1], 16);
    maxId = Math.max(maxId, id);
    if (known.has(id)) {
      onDisk.add(id);
    } else {
      unlinkSync(join(files.dir, name));
      removedPackFiles.push(name);
    }
  }

  // At most one pack is open; should several be unsealed, the newest stays open.
  const openId = Math.max(0, ...rows.filter((r) => r.sealed === 0).map((r) => r.id));
  const packs = new Map<number, Pack>();
  index.transaction(() => {
    for (const row of rows) {
      maxId = Math.max(maxId, row.id);
      const path = files.path(row.id);
      const fileSize = onDisk.has(row.id) ? statSync(path).size : -1;
      if (fileSize < PACK_HEADER_BYTES) {
        for (const id of index.deleteBeyond(row.id, -1)) lostChunks.push(id.toString('hex'));
        index.deletePack(row.id);
        if (fileSize >= 0) {
          unlinkSync(path);
          removedPackFiles.push(packName(row.id));
        }
        continue;
      }
      if (row.sealed === 0 && fileSize > row.size) {
        const fd = openSync(path, 'r+');
        try {
          ftruncateSync(fd, row.size);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        truncatedBytes += fileSize - row.size;
      }
      // Never expected given the write ordering; checked because a disk or an operator can
      // lose bytes. Rows whose record does not fit in the file are dropped and reported.
      const valid = Math.min(fileSize, row.size);
      for (const id of index.deleteBeyond(row.id, valid)) lostChunks.push(id.toString('hex'));
      const sealed = row.sealed === 1 || row.id !== openId;
      if (valid !== row.size || sealed !== (row.sealed === 1)) {
        index.putPack({ ...row, sealed: sealed ? 1 : 0, size: valid });
      }
      packs.set(row.id, { id: row.id, createdMs: row.created_ms, size: valid, sealed, dirty: false });
    }
  });
  if (removedPackFiles.length > 0) await fsyncDir(files.dir);

  let open = packs.get(openId);
  if (open?.sealed) open = undefined;
  if (open) files.pin(open.id, openSync(files.path(open.id), 'r+'));
  return { packs, open, nextPackId: maxId + 1, report: { truncatedBytes, removedPackFiles, lostChunks } };
}

