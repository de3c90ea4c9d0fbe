import { create } from '@bufbuild/protobuf';
import { TimestampSchema, timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { Timestamp } from '@bufbuild/protobuf/wkt';
import { HavenError, chunkIdFromBytes, chunkIdToBytes, normalizeRelPath } from '@haven/core';
import type { ChunkId } from '@haven/core';
import {
  EntryType as PbEntryType,
  FileEntrySchema,
  PointSchema,
  SetKind as PbSetKind,
  SetState as PbSetState,
} from '@haven/proto';
import type { FileChange, FileEntry, Point as PbPoint, PointSelector as PbPointSelector } from '@haven/proto';
import { MAIN_BRANCH } from '../catalog/catalog.js';
import type { Change, EntryType, Point, PointSelector, SetKind, SetState, Version } from '../catalog/catalog.js';

const NS_PER_MS = 1_000_000n;

export function timestampToNs(ts: Timestamp | undefined): bigint {
  if (ts === undefined) return 0n;
  return ts.seconds * 1_000_000_000n + BigInt(ts.nanos);
}

export function timestampFromNs(ns: bigint): Timestamp {
  const seconds = ns >= 0n ? ns / 1_000_000_000n : -((-ns + 999_999_999n) / 1_000_000_000n);
  return create(TimestampSchema, { seconds, nanos: Number(ns - seconds * 1_000_000_000n) });
}

export function msToTimestamp(ms: number): Timestamp {
  return timestampFromMs(ms);
}

export function timestampToMs(ts: Timestamp | undefined): number | undefined {
  return ts === undefined ? undefined : Number(timestampToNs(ts) / NS_PER_MS);
}

const ENTRY_TYPES: Partial<Record<PbEntryType, EntryType>> = {
  [PbEntryType.FILE]: 'file',
  [PbEntryType.DIR]: 'dir',
  [PbEntryType.SYMLINK]: 'symlink',
};

const ENTRY_TYPES_BACK: Record<EntryType, PbEntryType> = {
  file: PbEntryType.FILE,
  dir: PbEntryType.DIR,
  symlink: PbEntryType.SYMLINK,
};

/** A wire FileChange -> a catalog change, validated (one INVALID_ARGUMENT line on bad input). */
export function changeFromProto(c: FileChange): Change {
  const path = c.path === '' ? '' : normalizeRelPath(c.path);
  if (c.deleted) return { op: 'delete', path };
  const type = ENTRY_TYPES[c.type];
  if (type === undefined) throw new HavenError('INVALID_ARGUMENT', `change for "${path}" has unsupported entry type ${c.type}`);
  let contentRoot: ChunkId | null = null;
  if (type === 'file') {
    if (c.contentRoot.length === 0) throw new HavenError('INVALID_ARGUMENT', `file "${path}" has no content root`);
    contentRoot = chunkIdFromBytes(c.contentRoot);
  }
  if (type === 'symlink' && c.symlinkTarget === '') throw new HavenError('INVALID_ARGUMENT', `symlink "${path}" has no target`);
  if (c.size > BigInt(Number.MAX_SAFE_INTEGER)) throw new HavenError('INVALID_ARGUMENT', `file "${path}" size is out of range`);
  return {
    op: 'put',
    path,
    type,
    mode: c.mode,
    uid: c.uid,
    gid: c.gid,
    mtimeNs: timestampToNs(c.mtime),
    size: Number(c.size),
    contentRoot,
    symlinkTarget: type === 'symlink' ? c.symlinkTarget : null,
  };
}

export function fileEntryToProto(v: Version): FileEntry {
  return create(FileEntrySchema, {
    path: v.path,
    type: ENTRY_TYPES_BACK[v.type],
    mode: v.mode,
    uid: v.uid,
    gid: v.gid,
    mtime: timestampFromNs(v.mtimeNs),
    size: BigInt(v.size),
    contentRoot: v.contentRoot === null ? new Uint8Array(0) : chunkIdToBytes(v.contentRoot),
    symlinkTarget: v.symlinkTarget ?? '',
    seqFrom: BigInt(v.seqFrom),
    seqTo: v.seqTo === null ? 0n : BigInt(v.seqTo),
  });
}

/** The main line is the unnamed branch on the wire. */
export function wireBranch(branch: string): string {
  return branch === MAIN_BRANCH ? '' : branch;
}

export function pointToProto(p: Point, extra: { files?: number; bytes?: number } = {}): PbPoint {
  return create(PointSchema, {
    seq: BigInt(p.seq),
    time: msToTimestamp(p.timeMs),
    epoch: BigInt(p.epoch),
    label: p.label ?? '',
    branch: wireBranch(p.branch),
    changes: BigInt(p.changeCount),
    files: BigInt(extra.files ?? 0),
    bytes: BigInt(extra.bytes ?? p.bytesAdded),
  });
}

/** A wire PointSelector -> a catalog selector (unset means latest). */
export function pointSelectorFromProto(sel: PbPointSelector | undefined): PointSelector {
  switch (sel?.point.case) {
    case 'seq':
      return { seq: Number(sel.point.value) };
    case 'time':
      return { timeMs: Number(timestampToNs(sel.point.value) / NS_PER_MS) };
    default:
      return { latest: true };
  }
}

export const SET_KIND_TO_PROTO: Record<SetKind, PbSetKind> = { files: PbSetKind.FILES, block: PbSetKind.BLOCK };

export const SET_STATE_TO_PROTO: Record<SetState, PbSetState> = {
  INITIAL_SYNC: PbSetState.INITIAL_SYNC,
  CONTINUOUS: PbSetState.CONTINUOUS,
  BACKLOG: PbSetState.BACKLOG,
  RESCAN: PbSetState.RESCAN,
  PAUSED: PbSetState.PAUSED,
  STALLED: PbSetState.STALLED,
  DISCONNECTED: PbSetState.DISCONNECTED,
  FAILED_OVER: PbSetState.FAILED_OVER,
};

export function setStateFromProto(s: PbSetState): SetState | undefined {
  return (Object.entries(SET_STATE_TO_PROTO) as Array<[SetState, PbSetState]>).find(([, v]) => v === s)?.[0];
}
