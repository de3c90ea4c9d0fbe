import { SetState } from '@haven/proto';
import type { AdminService, Client } from '@haven/proto';

export type AdminClient = Client<typeof AdminService>;

/** Entries (files, directories, symlinks; not the root) the point `seq` of `set` lists. */
export async function countEntries(admin: AdminClient, set: string, seq: bigint): Promise<number> {
  let n = 0;
  for await (const r of admin.listFiles({ set, recursive: true, point: { point: { case: 'seq', value: seq } } })) n += r.entries.length;
  return n;
}

/**
 * Waits until the agent reports nothing queued for `set` and its newest point lists
 * `entries` entries: the whole tree is captured. Returns that point's seq. The count is
 * only taken once the agent's report says the queue is empty (counting 100k entries costs
 * about a hundred listing pages).
 */
export async function waitSetSettled(admin: AdminClient, set: string, entries: number, timeoutMs: number): Promise<bigint> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const st = (await admin.getStatus({})).sets.find((s) => s.name === set);
    const seq = st?.lastPoint?.seq;
    if (st !== undefined && seq !== undefined && st.backlogFiles === 0n && st.state !== SetState.STALLED) {
      const n = await countEntries(admin, set, seq);
      if (n === entries) return seq;
      last = `point ${seq} lists ${n} of ${entries} entries`;
    } else {
      last = st === undefined ? 'set not reported' : `state ${SetState[st.state] ?? st.state}, ${st.backlogFiles} files queued`;
    }
    if (Date.now() > deadline) throw new Error(`set ${set} not settled after ${timeoutMs} ms: ${last}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
