import { expect } from 'vitest';
import { chunkIdFromBytes } from '@haven/core';
import { EntryType } from '@haven/proto';
import type { AdminService, Client, FileEntry } from '@haven/proto';
import { contentChunks } from './content-chunks.js';

export type AdminClient = Client<typeof AdminService>;

/** A tree of regular files as a writer expects it at a point: path -> content. */
export type ExpectedTree = ReadonlyMap<string, Buffer>;

/** The point selector for a seq. */
export function atSeq(seq: number): { point: { case: 'seq'; value: bigint } } {
  return { point: { case: 'seq', value: BigInt(seq) } };
}

const roots = new WeakMap<Buffer, string>();

/** The content root of `content` (cached: trees repeat the same buffers point after point). */
export function rootOf(content: Buffer): string {
  let root = roots.get(content);
  if (root === undefined) {
    root = contentChunks(content).root;
    roots.set(content, root);
  }
  return root;
}

export async function readFileBytes(admin: AdminClient, set: string, path: string, seq: number): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const r of admin.readFile({ set, path, point: atSeq(seq) })) parts.push(r.data);
  return Buffer.concat(parts);
}

export async function listEntries(admin: AdminClient, set: string, seq: number): Promise<FileEntry[]> {
  const entries: FileEntry[] = [];
  for await (const r of admin.listFiles({ set, recursive: true, point: atSeq(seq) })) entries.push(...r.entries);
  return entries;
}

/** The catalog's state at `seq` is exactly `tree`: same paths, all files, same sizes and content roots. */
export async function expectTreeAt(admin: AdminClient, set: string, seq: number, tree: ExpectedTree): Promise<void> {
  const got = (await listEntries(admin, set, seq)).map((e) => ({
    path: e.path,
    type: EntryType[e.type],
    size: Number(e.size),
    root: e.contentRoot.length === 0 ? '' : chunkIdFromBytes(e.contentRoot),
  }));
  const want = [...tree.entries()]
    .map(([path, content]) => ({ path, type: EntryType[EntryType.FILE], size: content.length, root: rootOf(content) }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  expect(got, `${set}@${seq}: listed entries`).toEqual(want);
}

/** readFile of `path` at `seq` returns exactly `content`. */
export async function expectContentAt(admin: AdminClient, set: string, seq: number, path: string, content: Buffer): Promise<void> {
  const got = await readFileBytes(admin, set, path, seq).catch((err: unknown) => {
    throw new Error(`${set}/${path}@${seq}: read failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  });
  if (!got.equals(content)) {
    const at = got.findIndex((b, i) => b !== content[i]);
    expect.fail(`${set}/${path}@${seq}: read ${got.length} bytes, expected ${content.length}; first difference at ${at}`);
  }
}

/** The whole point: listing, then every file read back byte for byte. */
export async function expectPoint(admin: AdminClient, set: string, seq: number, tree: ExpectedTree): Promise<void> {
  await expectTreeAt(admin, set, seq, tree);
  for (const [path, content] of tree) await expectContentAt(admin, set, seq, path, content);
}
