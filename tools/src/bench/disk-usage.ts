import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface DiskUsage {
  /** Sum of file lengths. */
  readonly bytes: number;
  /** Bytes allocated on disk (st_blocks x 512), as `du` counts them. */
  readonly allocatedBytes: number;
  readonly files: number;
}

/** Total size of the regular files under `dir`, recursively (symlinks not followed). */
export async function diskUsage(dir: string): Promise<DiskUsage> {
  let bytes = 0;
  let allocatedBytes = 0;
  let files = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      const sub = await diskUsage(path);
      bytes += sub.bytes;
      allocatedBytes += sub.allocatedBytes;
      files += sub.files;
    } else if (e.isFile()) {
      const s = await stat(path);
      bytes += s.size;
      allocatedBytes += s.blocks * 512;
      files += 1;
    }
  }
  return { bytes, allocatedBytes, files };
}
