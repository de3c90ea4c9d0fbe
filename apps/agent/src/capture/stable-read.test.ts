import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { metaFromStats } from './entry-meta.js';
import { readFileStable } from './stable-read.js';
import type { StableReadOptions } from './stable-read.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'haven-stable-read-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const pattern = (size: number, seed: number): Buffer => {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
};

/** Writes a file and lets its ctime age past the racy window, so reads start at once. */
async function settledFile(name: string, data: Buffer): Promise<string> {
  const p = join(dir, name);
  writeFileSync(p, data);
  await sleep(40);
  return p;
}

/** Collects what a consumer would keep: restarts drop what came before. */
function collector(extra: Partial<StableReadOptions> = {}): {
  opts: StableReadOptions;
  data: () => Buffer;
  pieces: number[];
  restarts: number[];
} {
  let parts: Buffer[] = [];
  const pieces: number[] = [];
  const restarts: number[] = [];
  let expectedOffset = 0;
  const opts: StableReadOptions = {
    onData: (buf, offset) => {
      expect(offset).toBe(expectedOffset);
      expectedOffset += buf.length;
      pieces.push(buf.length);
      parts.push(buf);
    },
    onRestart: (attempt) => {
      restarts.push(attempt);
      parts = [];
      expectedOffset = 0;
    },
    ...extra,
  };
  return { opts, data: () => Buffer.concat(parts), pieces, restarts };
}

describe('readFileStable', () => {
  it('reads an unchanged file in one pass of bounded pieces', async () => {
    const content = pattern(1_000_000, 1);
    const p = await settledFile('f', content);
    const c = collector({ chunkSize: 64 * 1024 });
    const r = await readFileStable(p, c.opts);
    expect(r).toMatchObject({ status: 'ok', attempts: 1, startOffset: 0, bytes: content.length });
    expect(c.data().equals(content)).toBe(true);
    expect(Math.max(...c.pieces)).toBe(64 * 1024);
    expect(c.pieces.length).toBe(Math.ceil(content.length / (64 * 1024)));
    expect(c.restarts).toEqual([]);
    if (r.status === 'ok') expect(r.meta).toEqual(metaFromStats(statSync(p, { bigint: true }), 'file'));
  });

  it('reads an empty file', async () => {
    const p = await settledFile('empty', Buffer.alloc(0));
    const c = collector();
    expect(await readFileStable(p, c.opts)).toMatchObject({ status: 'ok', bytes: 0, attempts: 1 });
  });

  it('detects a file rewritten during the read and reads it again', async () => {
    const v1 = pattern(256 * 1024, 1);
    const v2 = pattern(256 * 1024, 2); // same size: only the timestamps tell
    const p = await settledFile('f', v1);
    let rewrites = 0;
    const c = collector({ chunkSize: 32 * 1024 });
    const slow = c.opts.onData;
    const r = await readFileStable(p, {
      ...c.opts,
      onData: async (buf, offset) => {
        slow(buf, offset);
        if (offset === 0 && rewrites === 0) {
          rewrites++;
          // A concurrent writer, while the consumer is slow on the first piece.
          await sleep(30);
          writeFileSync(p, v2);
          await sleep(30);
        }
      },
    });
    expect(r).toMatchObject({ status: 'ok', attempts: 2 });
    expect(c.restarts).toEqual([2]);
    expect(c.data().equals(v2)).toBe(true);
  });

  it('detects a file replaced by rename (atomic save) during the read', async () => {
    const p = await settledFile('f', pattern(100_000, 1));
    const v2 = pattern(50_000, 9);
    let replaced = false;
    const c = collector({ chunkSize: 10_000 });
    const keep = c.opts.onData;
    const r = await readFileStable(p, {
      ...c.opts,
      onData: async (buf, offset) => {
        keep(buf, offset);
        if (!replaced) {
          replaced = true;
          writeFileSync(`${p}.tmp`, v2);
          renameSync(`${p}.tmp`, p);
          await sleep(40);
        }
      },
    });
    expect(r).toMatchObject({ status: 'ok', attempts: 2 });
    expect(c.data().equals(v2)).toBe(true);
  });

  it('reports unstable after maxRetries when the file never holds still', async () => {
    const p = await settledFile('hot', pattern(64 * 1024, 1));
    let n = 0;
    const c = collector({ chunkSize: 16 * 1024, maxRetries: 2 });
    const keep = c.opts.onData;
    const r = await readFileStable(p, {
      ...c.opts,
      onData: async (buf, offset) => {
        keep(buf, offset);
        if (offset === 0) {
          writeFileSync(p, pattern(64 * 1024, ++n));
          await sleep(30);
        }
      },
    });
    expect(r).toEqual({ status: 'unstable', attempts: 3 });
    expect(c.restarts).toEqual([2, 3]);
  });

  it('waits until a just-written file is older than the racy window before reading', async () => {
    const p = join(dir, 'fresh');
    writeFileSync(p, 'just written');
    const ctimeMs = Number(statSync(p, { bigint: true }).ctimeNs / 1_000_000n);
    let firstDataAt = 0;
    const r = await readFileStable(p, {
      racyWindowMs: 50,
      onData: () => {
        firstDataAt ||= Date.now();
      },
    });
    expect(r).toMatchObject({ status: 'ok', attempts: 1 });
    expect(firstDataAt - ctimeMs).toBeGreaterThanOrEqual(50);
  });

  it('resumes at an offset only while the file is the same version', async () => {
    const content = pattern(300_000, 3);
    const p = await settledFile('f', content);
    const identity = metaFromStats(statSync(p, { bigint: true }), 'file');
    const got: Buffer[] = [];
    let firstOffset = -1;
    const resumed = await readFileStable(p, {
      onData: (buf, offset) => {
        if (firstOffset < 0) firstOffset = offset;
        got.push(buf);
      },
      resume: { offset: 200_000, identity },
    });
    expect(resumed).toMatchObject({ status: 'ok', startOffset: 200_000, bytes: 100_000 });
    expect(firstOffset).toBe(200_000);
    expect(Buffer.concat(got).equals(content.subarray(200_000))).toBe(true);

    const stale = { ...identity, ctimeNs: identity.ctimeNs - 1n };
    const c2 = collector();
    const fresh = await readFileStable(p, { ...c2.opts, resume: { offset: 200_000, identity: stale } });
    expect(fresh).toMatchObject({ status: 'ok', startOffset: 0, bytes: 300_000 });
    expect(c2.data().equals(content)).toBe(true);
  });

  it('reports vanished files, and never opens symlinks, directories or FIFOs as files', async () => {
    const none = collector();
    expect(await readFileStable(join(dir, 'missing'), none.opts)).toEqual({ status: 'vanished' });

    const target = await settledFile('target', Buffer.from('t'));
    symlinkSync(target, join(dir, 'link'));
    mkdirSync(join(dir, 'sub'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    for (const name of ['link', 'sub', 'fifo']) {
      expect(await readFileStable(join(dir, name), collector().opts), name).toEqual({ status: 'not-a-file' });
    }

    const p = await settledFile('going', pattern(50_000, 1));
    const r = await readFileStable(p, {
      chunkSize: 10_000,
      onData: () => {
        if (statSync(p, { throwIfNoEntry: false })) unlinkSync(p);
      },
    });
    expect(r).toEqual({ status: 'vanished' });
  });

  it('refuses a file that resolves outside the root', async () => {
    const root = join(dir, 'root');
    const outside = join(dir, 'outside');
    mkdirSync(root);
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), 'nope');
    symlinkSync(outside, join(root, 'swapped')); // a parent directory swapped for a symlink
    const r = await readFileStable(join(root, 'swapped/secret'), { ...collector().opts, within: root });
    expect(r).toEqual({ status: 'outside-root', realPath: join(outside, 'secret') });
  });

  it('rejects bad options with INVALID_ARGUMENT', async () => {
    const p = await settledFile('f', Buffer.from('x'));
    await expect(readFileStable(p, { onData: () => {}, chunkSize: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(readFileStable(p, { onData: () => {}, maxRetries: -1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
