import { chmod, mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HavenError } from '@haven/core';
import { MASTER_KEY_FILE, STORAGE_KEY_FILE, createStorageKeys, loadStorageKey } from './storage-key.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof HavenError) return err.code;
    throw err;
  }
  return 'OK';
}

async function flip(path: string, at: number): Promise<void> {
  const bytes = await readFile(path);
  bytes[at] = (bytes[at] ?? 0) ^ 1;
  await writeFile(path, bytes);
}

describe('storage keys', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  async function init(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'haven-keys-'));
    dirs.push(dir);
    await createStorageKeys(join(dir, 'keys'));
    return join(dir, 'keys');
  }

  it('creates owner-only key files and unwraps the same 32-byte key every time', async () => {
    const dir = await init();
    expect((await stat(join(dir, MASTER_KEY_FILE))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, STORAGE_KEY_FILE))).mode & 0o777).toBe(0o600);
    const key = await loadStorageKey(dir);
    expect(key.length).toBe(32);
    expect((await loadStorageKey(dir)).equals(key)).toBe(true);
    const other = await loadStorageKey(await init());
    expect(other.equals(key)).toBe(false);
  });

  it('refuses to overwrite existing keys', async () => {
    const dir = await init();
    const key = await loadStorageKey(dir);
    expect(await codeOf(createStorageKeys(dir))).toBe('ALREADY_EXISTS');
    await unlink(join(dir, STORAGE_KEY_FILE));
    expect(await codeOf(createStorageKeys(dir))).toBe('ALREADY_EXISTS');
    void key;
  });

  it('says which file is missing', async () => {
    const dir = await init();
    await unlink(join(dir, STORAGE_KEY_FILE));
    const err = await loadStorageKey(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HavenError);
    expect((err as HavenError).code).toBe('FAILED_PRECONDITION');
    expect((err as HavenError).message).toContain(STORAGE_KEY_FILE);
    await unlink(join(dir, MASTER_KEY_FILE));
    expect(await codeOf(loadStorageKey(dir))).toBe('FAILED_PRECONDITION');
  });

  it('detects a damaged master key as CORRUPT', async () => {
    const dir = await init();
    await flip(join(dir, MASTER_KEY_FILE), 20);
    expect(await codeOf(loadStorageKey(dir))).toBe('CORRUPT');
  });

  it('detects a truncated or foreign storage key as CORRUPT', async () => {
    const dir = await init();
    const path = join(dir, STORAGE_KEY_FILE);
    await writeFile(path, (await readFile(path)).subarray(0, 40));
    expect(await codeOf(loadStorageKey(dir))).toBe('CORRUPT');
  });

  it('detects a tampered wrapped key, or keys of two inits, as UNAUTHENTICATED', async () => {
    const dir = await init();
    await flip(join(dir, STORAGE_KEY_FILE), 30);
    expect(await codeOf(loadStorageKey(dir))).toBe('UNAUTHENTICATED');

    const a = await init();
    const b = await init();
    await writeFile(join(a, STORAGE_KEY_FILE), await readFile(join(b, STORAGE_KEY_FILE)));
    expect(await codeOf(loadStorageKey(a))).toBe('UNAUTHENTICATED');
  });

  it('refuses a master key readable by others', async () => {
    const dir = await init();
    await chmod(join(dir, MASTER_KEY_FILE), 0o644);
    expect(await codeOf(loadStorageKey(dir))).toBe('FAILED_PRECONDITION');
  });
});
