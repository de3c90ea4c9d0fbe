import { SPECIAL_FRAMES, sumProfileBy } from './cpu-profile.js';
import type { ProfileNode } from './cpu-profile.js';

/** Where sampled time went, in ms per category; `busyMs` excludes idle. */
export interface ProfileSummary {
  readonly totalMs: number;
  readonly busyMs: number;
  readonly categories: Record<string, number>;
}

/**
 * Categories by the script (and name) of a frame, tested as "URL functionName". Native frames
 * count for the nearest JavaScript caller (V8 labels them unreliably): zstd's C code for
 * zstd-napi's wrapper or the agent's compressChunk, writev for the pack store.
 */
const RULES: ReadonlyArray<readonly [string, RegExp]> = [
  ['zstd', /zstd-napi| compressChunk$/],
  ['blake3', /blake-hash|chunk-id\.js/],
  ['fastcdc', /fastcdc\.js|concat-bytes\.js/],
  ['protobuf', /@bufbuild\/protobuf/],
  ['grpc/http2/tls', /@grpc\/grpc-js|node:internal\/http2|node:_tls|node:tls|node:net|node:internal\/stream_base|libs\/proto\/|libs\/transport\//],
  ['sqlite', /better-sqlite3|catalog\/|chunk-scope\.js|pack-index\.js/],
  ['crypto (AES-GCM, x509)', /node:internal\/crypto/],
  ['pack store', /store\/pack-/],
  ['fs', /node:fs|node:internal\/fs/],
  ['streams/events', /node:internal\/streams|node:events|node:internal\/process\/task_queues|node:internal\/event_target/],
];

function categoryOf(node: ProfileNode): string | undefined {
  const special = SPECIAL_FRAMES[node.callFrame.functionName];
  if (special !== undefined && node.callFrame.url === '') return special;
  if (node.callFrame.url === '') return undefined;
  const where = `${node.callFrame.url} ${node.callFrame.functionName}`;
  for (const [name, re] of RULES) if (re.test(where)) return name;
  return 'other JS';
}

export async function summarizeCpuProfile(path: string): Promise<ProfileSummary> {
  const { totalMs, by } = await sumProfileBy(path, (stack) => {
    for (const n of stack) {
      const cat = categoryOf(n);
      if (cat !== undefined) return cat;
    }
    return 'V8/native (unattributed)';
  });
  return { totalMs, busyMs: totalMs - (by['idle'] ?? 0), categories: by };
}
