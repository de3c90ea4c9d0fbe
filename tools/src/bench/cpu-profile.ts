import { readFile } from 'node:fs/promises';

/** The parts of a V8 .cpuprofile the summaries read. */
export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** V8's pseudo-frames (no URL) and what their time counts as. */
export const SPECIAL_FRAMES: Readonly<Record<string, string>> = {
  '(garbage collector)': 'GC',
  '(idle)': 'idle',
  '(program)': 'V8/native (unattributed)',
  '(root)': 'V8/native (unattributed)',
};

/**
 * Sampled time of a profile (ms) by the label `attribute` gives each sample's stack, which
 * it reads from the sampled frame up through its callers. Labels are computed once per node.
 */
export async function sumProfileBy(path: string, attribute: (stack: Iterable<ProfileNode>) => string): Promise<{ totalMs: number; by: Record<string, number> }> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  function* stackOf(id: number): Generator<ProfileNode> {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (n === undefined) return;
      yield n;
    }
  }
  const labels = new Map<number, string>();
  const by: Record<string, number> = {};
  let totalMs = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    totalMs += ms;
    let label = labels.get(id);
    if (label === undefined) {
      label = attribute(stackOf(id));
      labels.set(id, label);
    }
    by[label] = (by[label] ?? 0) + ms;
  });
  return { totalMs, by };
}
