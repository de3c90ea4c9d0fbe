import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PackWriter } from './pack-writer.js';

let dir: string;
const fds: number[] = [];

function openFile(name: string): number {
  const fd = openSync(join(dir, name), 'w+');
  fds.push(fd);
  return fd;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'haven-pack-writer-'));
});

afterEach(() => {
  for (const fd of fds.splice(0)) closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
});

describe('PackWriter', () => {
  it('writes every record where asked, merging those queued behind a running write', async () => {
    const writer = new PackWriter();
    const fd = openFile('a.pack');
    const records = Array.from({ length: 50 }, (_, i) => [randomBytes(64), randomBytes(1000 + i * 37), randomBytes(16)]);
    let pos = 0;
    const writes = records.map((parts) => {
      const length = parts.reduce((n, p) => n + p.length, 0);
      const w = writer.write(fd, parts, pos, length);
      pos += length;
      return w;
    });
    await Promise.all(writes);
    expect(readFileSync(join(dir, 'a.pack')).equals(Buffer.concat(records.flat()))).toBe(true);
    // The first goes alone; the 49 queued behind it are contiguous and go together.
    expect(writer.writevCalls).toBe(2);
  });

  it('keeps writes at other positions and to other files apart', async () => {
    const writer = new PackWriter();
    const a = openFile('a.pack');
    const b = openFile('b.pack');
    const x = randomBytes(100);
    const y = randomBytes(100);
    const z = randomBytes(100);
    await Promise.all([writer.write(a, [x], 0, 100), writer.write(a, [y], 300, 100), writer.write(a, [z], 100, 100), writer.write(b, [z], 0, 100)]);
    const fileA = readFileSync(join(dir, 'a.pack'));
    expect(fileA.subarray(0, 100).equals(x)).toBe(true);
    expect(fileA.subarray(100, 200).equals(z)).toBe(true);
    expect(fileA.subarray(300, 400).equals(y)).toBe(true);
    expect(readFileSync(join(dir, 'b.pack')).equals(z)).toBe(true);
  });

  it('fails every write of a failed writev, and keeps serving the writes after it', async () => {
    const writer = new PackWriter();
    const readOnly = openSync(join(dir, 'ro.pack'), 'w+');
    closeSync(readOnly);
    const ro = openSync(join(dir, 'ro.pack'), 'r');
    fds.push(ro);
    const results = await Promise.allSettled([writer.write(ro, [randomBytes(10)], 0, 10), writer.write(ro, [randomBytes(10)], 10, 10)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const ok = openFile('ok.pack');
    await writer.write(ok, [Buffer.from('fine')], 0, 4);
    expect(readFileSync(join(dir, 'ok.pack'), 'utf8')).toBe('fine');
    // A write whose length does not match its parts is a short write: an error.
    await expect(writer.write(ok, [Buffer.from('abc')], 4, 5)).rejects.toThrow(/short write/);
  });
});
