import type { BigIntStats } from 'node:fs';

/** What a protected path is. Sockets, FIFOs and devices are never captured. */
export type EntryType = 'file' | 'dir' | 'symlink';

/**
 * Metadata of one entry, as lstat() reports it (symlinks are never followed).
 * Integers that can exceed 2^53 (nanosecond times, inode and device numbers, sizes of
 * sparse files) are bigint so two stats compare exactly.
 */
export interface EntryMeta {
  type: EntryType;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  dev: bigint;
  /** Permission bits including setuid/setgid/sticky (st_mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Target of a symlink as stored in the link; null for other types. */
  symlinkTarget: string | null;
}

/** The part of the metadata that identifies one version of a file's contents. */
export type FileIdentity = Pick<EntryMeta, 'size' | 'mtimeNs' | 'ctimeNs' | 'ino' | 'dev'>;

/** Returns the entry type of a stat, or undefined for types Haven does not capture. */
export function entryTypeOf(st: BigIntStats): EntryType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return undefined;
}

/** Why an entry of an uncapturable type was skipped. */
export type SpecialKind = 'socket' | 'fifo' | 'block-device' | 'char-device' | 'unknown';

export function specialKindOf(st: BigIntStats): SpecialKind {
  if (st.isSocket()) return 'socket';
  if (st.isFIFO()) return 'fifo';
  if (st.isBlockDevice()) return 'block-device';
  if (st.isCharacterDevice()) return 'char-device';
  return 'unknown';
}

export function metaFromStats(st: BigIntStats, type: EntryType, symlinkTarget: string | null = null): EntryMeta {
  return {
    type,
    size: st.size,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    ino: st.ino,
    dev: st.dev,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    symlinkTarget: type === 'symlink' ? symlinkTarget : null,
  };
}

export function identityOf(m: FileIdentity): FileIdentity {
  return { size: m.size, mtimeNs: m.mtimeNs, ctimeNs: m.ctimeNs, ino: m.ino, dev: m.dev };
}

/** True when both stats describe the same inode in the same state (any write changes ctime). */
export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino && a.dev === b.dev;
}

/**
 * True when `current` differs from what was recorded in a way that needs a new version.
 * The device number is deliberately not compared: it is not stable across reboots on
 * some filesystems (btrfs subvolumes, NFS, overlayfs), and comparing it would re-read
 * every file after a reboot. A different file placed at the path still shows up as a
 * changed inode number or ctime.
 */
export function metaChanged(recorded: EntryMeta, current: EntryMeta): boolean {
  return (
    recorded.type !== current.type ||
    recorded.size !== current.size ||
    recorded.mtimeNs !== current.mtimeNs ||
    recorded.ctimeNs !== current.ctimeNs ||
    recorded.ino !== current.ino ||
    recorded.mode !== current.mode ||
    recorded.uid !== current.uid ||
    recorded.gid !== current.gid ||
    recorded.symlinkTarget !== current.symlinkTarget
  );
}

/**
 * Decides whether a path relative to the protected root is left out. `isDir` is the
 * entry's type when known; excluded directories are not descended into.
 */
export type ExcludePredicate = (relPath: string, isDir: boolean) => boolean;

export const excludeNothing: ExcludePredicate = () => false;

/** Splits a relative path into its parent directory ('' for the root) and its name. */
export function splitRelPath(relPath: string): { dir: string; name: string } {
  const i = relPath.lastIndexOf('/');
  return i < 0 ? { dir: '', name: relPath } : { dir: relPath.slice(0, i), name: relPath.slice(i + 1) };
}

export function joinRelPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/**
 * A relative path as Haven stores it: '/'-separated, no leading or trailing '/', no '.'
 * or '..' segments, no empty segments, no NUL. '' is the root itself.
 */
export function isValidRelPath(relPath: string): boolean {
  if (relPath === '') return true;
  if (relPath.includes('\0')) return false;
  for (const seg of relPath.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') return false;
  }
  return true;
}
