import type { Version } from './catalog.js';
import { OPEN_SEQ } from './catalog-schema.js';

/**
 * A version row as the SELECTs below return it, in better-sqlite3's raw (array) mode: state
 * reads produce hundreds of thousands of rows, and arrays cost a third less than objects.
 * mtime_ns is a 64-bit integer and current times (~1.7e18 ns) are far beyond 2^53, where a
 * JS number would round it, so SQL splits it into exact seconds and remainder.
 */
export type VersionTuple = [
  path: string,
  seqFrom: number,
  seqTo: number,
  type: Version['type'],
  mode: number,
  uid: number,
  gid: number,
  mtimeS: number,
  mtimeRem: number,
  size: number,
  contentRoot: Buffer | null,
  symlinkTarget: string | null,
];

export const VERSION_COLUMNS =
  'path, seq_from, seq_to, type, mode, uid, gid, mtime_ns / 1000000000, mtime_ns % 1000000000, size, content_root, symlink_target';

const NS_PER_S = 1_000_000_000n;

export function versionOf(r: VersionTuple): Version {
  const root = r[10];
  return {
    path: r[0],
    seqFrom: r[1],
    seqTo: r[2] === OPEN_SEQ ? null : r[2],
    type: r[3],
    mode: r[4],
    uid: r[5],
    gid: r[6],
    mtimeNs: BigInt(r[7]) * NS_PER_S + BigInt(r[8]),
    size: r[9],
    contentRoot: root === null ? null : root.toString('hex'),
    symlinkTarget: r[11],
  };
}

/**
 * Bounds of the paths strictly below `path`: every such path is `path/...`, which sorts after
 * `path/` and before `path0` ('0' follows '/' in byte order). The root `''` has every other
 * path below it and no upper bound.
 */
export function subtreeBounds(path: string): { readonly after: string; readonly before: string | null } {
  return path === '' ? { after: '', before: null } : { after: `${path}/`, before: `${path}0` };
}

/**
 * Orders strings as SQLite orders TEXT (bytes of UTF-8), which differs from JS `<` (UTF-16
 * code units) only for characters beyond U+FFFF against U+E000..U+FFFF: a surrogate is moved
 * above every BMP code unit, which is exactly code point order.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && x <= 0xdfff) x += 0x10000;
    if (y >= 0xd800 && y <= 0xdfff) y += 0x10000;
    return x - y;
  }
  return a.length - b.length;
}
