import { HavenError, isChunkId } from '@haven/core';
import type { Change, EntryType } from './catalog.js';

/*
 * Input checks for the catalog. Everything a caller passes is checked here, before a
 * transaction starts, so bad input fails with one clear INVALID_ARGUMENT line and never
 * leaves a half-applied write or a raw SQLite error behind.
 */

export function invalid(message: string): HavenError {
  return new HavenError('INVALID_ARGUMENT', message);
}

/** How a value looks in an error message: short, one line. */
export function show(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value);
  else if (typeof value === 'bigint') text = `${value}n`;
  else if (value === undefined || typeof value === 'function' || typeof value === 'symbol') text = String(value);
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = Object.prototype.toString.call(value);
    }
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

// Names of sets, hosts, sites and branches: they appear on command lines, in logs and in paths.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkName(what: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw invalid(`${what} must be 1-128 characters of letters, digits, '.', '_' or '-' starting with a letter or digit, got ${show(value)}`);
  }
  return value;
}

/** A free-form single-line string (ids, addresses, fingerprints, actors...). */
export function checkText(what: string, value: unknown, max = 256): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || value.includes('\0')) {
    throw invalid(`${what} must be a non-empty string of at most ${max} characters, got ${show(value)}`);
  }
  return value;
}

export function checkOptionalText(what: string, value: unknown, max = 256): string | null {
  return value === undefined || value === null ? null : checkText(what, value, max);
}

export function checkInt(what: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${what} must be an integer in [${min}, ${max}], got ${show(value)}`);
  }
  return value;
}

export function checkTimeMs(what: string, value: unknown): number {
  return checkInt(what, value, 0);
}

export function checkSeq(what: string, value: unknown): number {
  return checkInt(what, value, 1);
}

export function checkBool(what: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalid(`${what} must be true or false, got ${show(value)}`);
  return value;
}

export function checkNonNegative(what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalid(`${what} must be a finite number >= 0, got ${show(value)}`);
  }
  return value;
}

/** An absolute path on a host (set source, standby target). */
export function checkAbsolutePath(what: string, value: unknown): string {
  const text = checkText(what, value, 4096);
  if (!text.startsWith('/')) throw invalid(`${what} must be an absolute path, got ${show(value)}`);
  return text;
}

export function checkStringList(
  what: string,
  value: unknown,
  item: (what: string, v: unknown) => string,
  maxItems = 1000,
): string[] {
  if (!Array.isArray(value) || value.length > maxItems) {
    throw invalid(`${what} must be a list of at most ${maxItems} entries, got ${show(value)}`);
  }
  const out = value.map((v, i) => item(`${what}[${i}]`, v));
  if (new Set(out).size !== out.length) throw invalid(`${what} has duplicate entries`);
  return out;
}

/** JSON text of a caller-supplied value; INVALID_ARGUMENT when it cannot be serialized. */
export function toJson(what: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new HavenError('INVALID_ARGUMENT', `${what} is not JSON-serializable: ${(err as Error).message}`, { cause: err });
  }
  if (text === undefined) throw invalid(`${what} is not JSON-serializable, got ${show(value)}`);
  if (text.length > 1_000_000) throw invalid(`${what} is larger than 1 MB as JSON`);
  return text;
}

export function checkJsonObject(what: string, value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`${what} must be an object, got ${show(value)}`);
  }
  return toJson(what, value);
}

// ---------------------------------------------------------------------------- entry paths

export const MAX_ENTRY_PATH = 4096;
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * A path inside a set: relative, `/`-separated, no empty / `.` / `..` segments, no NUL, valid
 * Unicode; `''` is the set's root. Validated by hand because it runs for every change of
 * 100k-change batches.
 */
export function checkEntryPath(what: string, path: unknown): string {
  if (typeof path !== 'string') throw invalid(`${what} must be a string, got ${show(path)}`);
  if (path === '') return path;
  if (path.length > MAX_ENTRY_PATH) throw invalid(`${what} is longer than ${MAX_ENTRY_PATH} characters`);
  if (path.includes('\0')) throw invalid(`${what} contains NUL: ${show(path)}`);
  let start = 0;
  for (;;) {
    const slash = path.indexOf('/', start);
    const end = slash === -1 ? path.length : slash;
    const len = end - start;
    const dot = len > 0 && len <= 2 && path.charCodeAt(start) === 46 && (len === 1 || path.charCodeAt(start + 1) === 46);
    if (len === 0 || dot) {
      throw invalid(`${what} must be relative with no empty, '.' or '..' segments, got ${show(path)}`);
    }
    if (slash === -1) break;
    start = slash + 1;
  }
  if (LONE_SURROGATE.test(path)) throw invalid(`${what} is not valid Unicode: ${show(path)}`);
  return path;
}

const ENTRY_TYPES: ReadonlySet<string> = new Set<EntryType>(['file', 'dir', 'symlink']);
const UINT32_MAX = 0xffff_ffff;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Checks every change of a commit; throws on the first bad one, naming its index. */
export function checkChanges(changes: unknown): readonly Change[] {
  if (!Array.isArray(changes)) throw invalid(`changes must be a list, got ${show(changes)}`);
  for (let i = 0; i < changes.length; i++) {
    const c: unknown = changes[i];
    const at = `changes[${i}]`;
    if (typeof c !== 'object' || c === null) throw invalid(`${at} must be an object, got ${show(c)}`);
    const ch = c as Record<string, unknown>;
    checkEntryPath(`${at}.path`, ch['path']);
    if (ch['op'] === 'delete') continue;
    if (ch['op'] !== 'put') throw invalid(`${at}.op must be "put" or "delete", got ${show(ch['op'])}`);
    const type = ch['type'];
    if (typeof type !== 'string' || !ENTRY_TYPES.has(type)) {
      throw invalid(`${at}.type must be file, dir or symlink, got ${show(type)}`);
    }
    checkInt(`${at}.mode`, ch['mode'], 0, UINT32_MAX);
    checkInt(`${at}.uid`, ch['uid'], 0, UINT32_MAX);
    checkInt(`${at}.gid`, ch['gid'], 0, UINT32_MAX);
    checkInt(`${at}.size`, ch['size'], 0);
    const mtime = ch['mtimeNs'];
    if (typeof mtime !== 'bigint' || mtime < INT64_MIN || mtime > INT64_MAX) {
      throw invalid(`${at}.mtimeNs must be a 64-bit bigint of nanoseconds, got ${show(mtime)}`);
    }
    const root = ch['contentRoot'] ?? null;
    const target = ch['symlinkTarget'] ?? null;
    if (type === 'file') {
      if (typeof root !== 'string' || !isChunkId(root)) {
        throw invalid(`${at}.contentRoot of a file must be a chunk id (64 lowercase hex), got ${show(root)}`);
      }
    } else if (root !== null) {
      throw invalid(`${at}.contentRoot must be null for a ${type}`);
    }
    if (type === 'symlink') checkText(`${at}.symlinkTarget`, target, 4096);
    else if (target !== null) throw invalid(`${at}.symlinkTarget must be null for a ${type}`);
  }
  return changes as readonly Change[];
}
