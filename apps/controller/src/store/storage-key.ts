import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HavenError } from '@haven/core';
import { fsyncDir } from './pack-files.js';

/*
 * Storage encryption keys: chunks are encrypted with a random data-encryption key (DEK),
 * stored wrapped (AES-256-GCM) by the site's master key. Rotating or escrowing the master
 * key rewraps 32 bytes instead of re-encrypting every pack.
 *
 * master.key (mode 0600), 48 bytes:
 *    0   4  magic "HVMK"
 *    4   1  format version = 1
 *    5   3  reserved, 0
 *    8  32  master key
 *   40   8  first 8 bytes of SHA-256 of bytes 0..40 (tells a damaged file from a wrong key)
 *
 * storage.key (mode 0600), 68 bytes:
 *    0   4  magic "HVSK"
 *    4   1  format version = 1
 *    5   3  reserved, 0
 *    8  12  nonce
 *   20  32  AES-256-GCM ciphertext of the DEK under the master key, AAD = bytes 0..20
 *   52  16  GCM tag
 */

export const MASTER_KEY_FILE = 'master.key';
export const STORAGE_KEY_FILE = 'storage.key';

const KEY_BYTES = 32;
const MASTER_MAGIC = Buffer.from('HVMK', 'latin1');
const WRAPPED_MAGIC = Buffer.from('HVSK', 'latin1');
const VERSION = 1;
const MASTER_FILE_BYTES = 48;
const WRAPPED_FILE_BYTES = 68;

/**
 * Creates a master key and a wrapped data-encryption key in `dir` (`haven-controller init`).
 * Refuses with ALREADY_EXISTS when either file exists: overwriting a key loses the data.
 */
export async function createStorageKeys(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const name of [MASTER_KEY_FILE, STORAGE_KEY_FILE]) {
    const path = join(dir, name);
    if (await exists(path)) {
      throw new HavenError('ALREADY_EXISTS', `key file ${path} already exists; refusing to overwrite a key`);
    }
  }
  const master = randomBytes(KEY_BYTES);
  const dek = randomBytes(KEY_BYTES);

  const masterFile = Buffer.alloc(MASTER_FILE_BYTES);
  MASTER_MAGIC.copy(masterFile, 0);
  masterFile[4] = VERSION;
  master.copy(masterFile, 8);
  masterDigest(masterFile).copy(masterFile, 40);

  const wrapped = Buffer.alloc(WRAPPED_FILE_BYTES);
  WRAPPED_MAGIC.copy(wrapped, 0);
  wrapped[4] = VERSION;
  randomBytes(12).copy(wrapped, 8);
  const cipher = createCipheriv('aes-256-gcm', master, wrapped.subarray(8, 20));
  cipher.setAAD(wrapped.subarray(0, 20));
  Buffer.concat([cipher.update(dek), cipher.final()]).copy(wrapped, 20);
  cipher.getAuthTag().copy(wrapped, 52);

  await writeNewFile(join(dir, MASTER_KEY_FILE), masterFile);
  await writeNewFile(join(dir, STORAGE_KEY_FILE), wrapped);
  await fsyncDir(dir);
}

/**
 * The data-encryption key, unwrapped. FAILED_PRECONDITION when a file is missing or the
 * master key is readable by others; CORRUPT when a file is malformed or damaged;
 * UNAUTHENTICATED when the wrapped key does not open under the master key (tampered, or
 * files from two different inits).
 */
export async function loadStorageKey(dir: string): Promise<Buffer> {
  const masterPath = join(dir, MASTER_KEY_FILE);
  const wrappedPath = join(dir, STORAGE_KEY_FILE);
  const masterFile = await readKeyFile(masterPath);
  const mode = (await stat(masterPath)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new HavenError(
      'FAILED_PRECONDITION',
      `master key ${masterPath} is accessible by group or others (mode ${mode.toString(8)}); chmod 600 it`,
    );
  }
  if (
    masterFile.length !== MASTER_FILE_BYTES ||
    !masterFile.subarray(0, 4).equals(MASTER_MAGIC) ||
    !masterDigest(masterFile).equals(masterFile.subarray(40, 48))
  ) {
    throw new HavenError('CORRUPT', `master key ${masterPath} is damaged or not a Haven master key`);
  }
  if (masterFile[4] !== VERSION) {
    throw new HavenError('CORRUPT', `master key ${masterPath} has unsupported format version ${masterFile[4]}`);
  }

  const wrapped = await readKeyFile(wrappedPath);
  if (wrapped.length !== WRAPPED_FILE_BYTES || !wrapped.subarray(0, 4).equals(WRAPPED_MAGIC)) {
    throw new HavenError('CORRUPT', `storage key ${wrappedPath} is damaged or not a Haven storage key`);
  }
  if (wrapped[4] !== VERSION) {
    throw new HavenError('CORRUPT', `storage key ${wrappedPath} has unsupported format version ${wrapped[4]}`);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', masterFile.subarray(8, 40), wrapped.subarray(8, 20));
    decipher.setAAD(wrapped.subarray(0, 20));
    decipher.setAuthTag(wrapped.subarray(52, 68));
    return Buffer.concat([decipher.update(wrapped.subarray(20, 52)), decipher.final()]);
  } catch (err) {
    throw new HavenError(
      'UNAUTHENTICATED',
      `storage key ${wrappedPath} does not open under master key ${masterPath} (tampered, or not from the same init)`,
      { cause: err },
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function masterDigest(masterFile: Buffer): Buffer {
  return createHash('sha256').update(masterFile.subarray(0, 40)).digest().subarray(0, 8);
}

async function readKeyFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new HavenError('FAILED_PRECONDITION', `key file ${path} not found; run haven-controller init`, { cause: err });
    }
    throw new HavenError('UNAVAILABLE', `cannot read key file ${path}`, { cause: err });
  }
}

async function writeNewFile(path: string, data: Buffer): Promise<void> {
  let file;
  try {
    file = await open(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new HavenError('ALREADY_EXISTS', `key file ${path} already exists; refusing to overwrite a key`, { cause: err });
    }
    throw err;
  }
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
}
