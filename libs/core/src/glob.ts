import { invalidArgument } from './errors.js';

/**
 * `--exclude` patterns: a gitignore-like subset, compiled once per pattern.
 *   `*` any run within one segment, `?` one character (never `/`), `[abc]` `[a-z]` `[!a]` `[^a]`
 *   classes, `\x` a literal x;
 *   `**` as a whole segment: `**\/x` x at any depth, `a/**` everything inside a (not a itself),
 *   `a/**\/b` b at any depth below a (elsewhere `**` acts as `*`);
 *   a pattern with a `/` before its end is anchored at the set root (a leading `/` only anchors),
 *   otherwise it matches a name at any depth;
 *   a trailing `/` matches directories only.
 * Like gitignore, a path is matched when it or any of its ancestor directories matches, so
 * excluding `node_modules/` excludes everything inside. Negation (`!`) is not supported.
 *
 * Matching is not done with RegExp: V8's backtracking engine takes polynomial time of degree
 * "number of stars" (`*a*a*a*a*b` against a 200-character name runs for minutes). The classic
 * wildcard algorithm below — every non-star token consumes exactly one item, so on a mismatch
 * only the last star needs to take one more item — is O(pattern x input) per level: within a
 * segment over characters, and across segments with `**` as the star.
 */
export interface GlobMatcher {
  readonly pattern: string;
  readonly dirOnly: boolean;
  readonly anchored: boolean;
  /** `path` is a normalized set-relative path (see normalizeRelPath); `isDir`: it names a directory. */
  matches(path: string, isDir: boolean): boolean;
}

/** Longest accepted pattern. */
export const GLOB_MAX_LENGTH = 1024;

type CharToken =
  | { readonly kind: 'star' }
  | { readonly kind: 'any' }
  | { readonly kind: 'char'; readonly ch: string }
  | { readonly kind: 'class'; readonly negate: boolean; readonly ranges: ReadonlyArray<readonly [number, number]> };

type SegToken =
  | { readonly kind: 'globstar' }
  /** Exactly one segment; `literal` set when the segment has no wildcard (a string compare). */
  | { readonly kind: 'seg'; readonly literal: string | undefined; readonly tokens: readonly CharToken[] };

const GLOBSTAR: SegToken = { kind: 'globstar' };
const ANY_SEGMENT: SegToken = { kind: 'seg', literal: undefined, tokens: [{ kind: 'star' }] };

export function compileGlob(pattern: string): GlobMatcher {
  if (typeof pattern !== 'string' || pattern === '') throw invalidArgument('exclude pattern is empty');
  const quoted = JSON.stringify(pattern.slice(0, 80));
  if (pattern.length > GLOB_MAX_LENGTH) throw invalidArgument(`exclude pattern longer than ${GLOB_MAX_LENGTH} characters`);
  if (pattern.includes('\0')) throw invalidArgument(`exclude pattern ${quoted} contains a NUL byte`);
  if (pattern.startsWith('!')) throw invalidArgument(`exclude pattern ${quoted}: negation (!) is not supported`);
  let body = pattern;
  let dirOnly = false;
  while (body.endsWith('/')) {
    body = body.slice(0, -1);
    dirOnly = true;
  }
  const anchored = body.includes('/');
  if (body.startsWith('/')) body = body.slice(1);
  if (body === '') throw invalidArgument(`exclude pattern ${quoted} matches nothing`);

  const segments = body.split('/');
  const tokens: SegToken[] = anchored ? [] : [GLOBSTAR];
  segments.forEach((seg, i) => {
    if (seg === '') throw invalidArgument(`exclude pattern ${quoted} has an empty segment`);
    if (seg === '.' || seg === '..') throw invalidArgument(`exclude pattern ${quoted} has a "${seg}" segment`);
    if (seg !== '**') tokens.push(compileSegment(seg, quoted));
    // A trailing `**` means "one or more segments"; elsewhere it means "zero or more".
    else if (i === segments.length - 1) tokens.push(ANY_SEGMENT, GLOBSTAR);
    else if (tokens.at(-1) !== GLOBSTAR) tokens.push(GLOBSTAR);
  });
  // The path lies inside a directory the pattern matches: the pattern, then one or more segments.
  const inside = [...tokens, ANY_SEGMENT, GLOBSTAR];

  return {
    pattern,
    dirOnly,
    anchored,
    matches(path, isDir) {
      if (path === '') return false;
      const segs = path.split('/');
      return ((isDir || !dirOnly) && matchSegments(tokens, segs)) || matchSegments(inside, segs);
    },
  };
}

/** One predicate for all `--exclude` patterns: true when any of them matches. */
export function createExcludeMatcher(patterns: readonly string[]): (path: string, isDir: boolean) => boolean {
  const globs = patterns.map((p) => compileGlob(p));
  return (path, isDir) => {
    for (const g of globs) if (g.matches(path, isDir)) return true;
    return false;
  };
}

function compileSegment(seg: string, quoted: string): SegToken {
  const chars = Array.from(seg);
  const tokens: CharToken[] = [];
  let literal = true;
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*') {
      literal = false;
      if (tokens.at(-1)?.kind !== 'star') tokens.push({ kind: 'star' });
    } else if (c === '?') {
      literal = false;
      tokens.push({ kind: 'any' });
    } else if (c === '[') {
      literal = false;
      const [token, end] = compileClass(chars, i + 1, quoted);
      tokens.push(token);
      i = end;
    } else if (c === '\\') {
      const next = chars[++i];
      if (next === undefined) throw invalidArgument(`exclude pattern ${quoted} ends with a lone backslash`);
      tokens.push({ kind: 'char', ch: next });
    } else {
      tokens.push({ kind: 'char', ch: c });
    }
  }
  const text = literal ? tokens.map((t) => (t.kind === 'char' ? t.ch : '')).join('') : undefined;
  return { kind: 'seg', literal: text, tokens };
}

/** Parses a bracket class starting after `[`; returns the token and the index of its `]`. */
function compileClass(chars: readonly string[], start: number, quoted: string): [CharToken, number] {
  let i = start;
  let negate = false;
  if (chars[i] === '!' || chars[i] === '^') {
    negate = true;
    i++;
  }
  const ranges: Array<readonly [number, number]> = [];
  const take = (): number => {
    let c = chars[i];
    if (c === '\\') c = chars[++i];
    if (c === undefined) throw invalidArgument(`exclude pattern ${quoted} has an unclosed [`);
    i++;
    return c.codePointAt(0)!;
  };
  for (let first = true; ; first = false) {
    const c = chars[i];
    if (c === undefined) throw invalidArgument(`exclude pattern ${quoted} has an unclosed [`);
    if (c === ']' && !first) break;
    const lo = take();
    if (chars[i] === '-' && chars[i + 1] !== undefined && chars[i + 1] !== ']') {
      i++;
      const hi = take();
      if (hi < lo) {
        throw invalidArgument(`exclude pattern ${quoted} has a backwards range ${String.fromCodePoint(lo, 45, hi)}`);
      }
      ranges.push([lo, hi]);
    } else {
      ranges.push([lo, lo]);
    }
  }
  return [{ kind: 'class', negate, ranges }, i];
}

/** The wildcard algorithm over path segments (`**` is the star). */
function matchSegments(tokens: readonly SegToken[], segs: readonly string[]): boolean {
  let t = 0;
  let s = 0;
  let starT = -1;
  let starS = 0;
  while (s < segs.length) {
    const tok = tokens[t];
    if (tok !== undefined && tok.kind === 'globstar') {
      starT = t++;
      starS = s;
    } else if (tok !== undefined && matchSegment(tok, segs[s]!)) {
      t++;
      s++;
    } else if (starT >= 0) {
      t = starT + 1;
      s = ++starS;
    } else {
      return false;
    }
  }
  while (tokens[t]?.kind === 'globstar') t++;
  return t === tokens.length;
}

function matchSegment(tok: Extract<SegToken, { kind: 'seg' }>, seg: string): boolean {
  if (tok.literal !== undefined) return tok.literal === seg;
  const chars = Array.from(seg);
  const tokens = tok.tokens;
  let t = 0;
  let c = 0;
  let starT = -1;
  let starC = 0;
  while (c < chars.length) {
    const ct = tokens[t];
    if (ct !== undefined && ct.kind === 'star') {
      starT = t++;
      starC = c;
    } else if (ct !== undefined && matchChar(ct, chars[c]!)) {
      t++;
      c++;
    } else if (starT >= 0) {
      t = starT + 1;
      c = ++starC;
    } else {
      return false;
    }
  }
  while (tokens[t]?.kind === 'star') t++;
  return t === tokens.length;
}

function matchChar(tok: Exclude<CharToken, { kind: 'star' }>, ch: string): boolean {
  switch (tok.kind) {
    case 'any':
      return true;
    case 'char':
      return tok.ch === ch;
    case 'class': {
      const cp = ch.codePointAt(0)!;
      let hit = false;
      for (const [lo, hi] of tok.ranges) {
        if (cp >= lo && cp <= hi) {
          hit = true;
          break;
        }
      }
      return hit !== tok.negate;
    }
  }
}
