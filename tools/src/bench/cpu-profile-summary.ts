import { readFile } from 'node:fs/promises';

/** The parts of a V8 .cpuprofile this summary reads. */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

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
const SPECIAL: Record<string, string> = {
  '(garbage collector)': 'GC',
  '(idle)': 'idle',
  '(program)': 'V8/native (unattributed)',
  '(root)': 'V8/native (unattributed)',
};

function categoryOf(node: ProfileNode): string | undefined {
  const special = SPECIAL[node.callFrame.functionName];
  if (special !== undefined && node.callFrame.url === '') return special;
  if (node.callFrame.url === '') return undefined;
  const where = `${node.callFrame.url} ${node.callFrame.functionName}`;
  for (const [name, re] of RULES) if (re.test(where)) return name;
  return 'other JS';
}

export async function summarizeCpuProfile(path: string): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const resolved = new Map<number, string>();
  const resolve = (id: number): string => {
    const known = resolved.get(id);
    if (known !== undefined) return known;
    let cur: number | undefined = id;
    let cat: string | undefined;
    while (cur !== undefined && cat === undefined) {
      const n = byId.get(cur);
      cat = n === undefined ? undefined : categoryOf(n);
      cur = parent.get(cur);
    }
    const out = cat ?? 'V8/native (unattributed)';
    resolved.set(id, out);
    return out;
  };
  const categories: Record<string, number> = {};
  let totalMs = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    totalMs += ms;
    const cat = resolve(id);
    categories[cat] = (categories[cat] ?? 0) + ms;
  });
  return { totalMs, busyMs: totalMs - (categories['idle'] ?? 0), categories };
}
