import { createInterface } from 'node:readline';
import type { SpawnedProcess } from '@haven/testing';

/** One JSON log line of `haven-agent run` (stderr), with its time as epoch milliseconds. */
export interface AgentLogRecord {
  readonly msg: string;
  readonly timeMs: number;
  readonly fields: Readonly<Record<string, unknown>>;
}

export interface AgentLogTap {
  /** Records of `msg` seen so far, oldest first. */
  records(msg: string): readonly AgentLogRecord[];
  /** The first record of `msg` (already seen or yet to come) that `match` accepts. */
  waitFor(msg: string, timeoutMs: number, match?: (r: AgentLogRecord) => boolean): Promise<AgentLogRecord>;
  /** Forgets what was collected (long runs at debug level log a lot). */
  clear(): void;
}

/**
 * Parses the agent's JSON-lines log as it is written. The harness keeps only a short ring of
 * output for failure messages; benchmarks need every `batch committed` line of a run, so they
 * read the stream themselves. Attach right after the process starts: earlier lines are gone.
 */
export function tapAgentLog(proc: SpawnedProcess): AgentLogTap {
  const byMsg = new Map<string, AgentLogRecord[]>();
  const waiters = new Set<(r: AgentLogRecord) => void>();
  const stderr = proc.child.stderr;
  if (stderr === null) throw new Error('agent process has no stderr pipe');
  createInterface({ input: stderr }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const { msg, time } = parsed;
    if (typeof msg !== 'string' || typeof time !== 'string') return;
    const record: AgentLogRecord = { msg, timeMs: Date.parse(time), fields: parsed };
    let list = byMsg.get(msg);
    if (list === undefined) byMsg.set(msg, (list = []));
    list.push(record);
    for (const w of [...waiters]) w(record);
  });
  return {
    records: (msg) => byMsg.get(msg) ?? [],
    waitFor: (msg, timeoutMs, match = () => true) => {
      const seen = (byMsg.get(msg) ?? []).find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<AgentLogRecord>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(watch);
          reject(new Error(`agent did not log "${msg}" within ${timeoutMs} ms\n${proc.output().slice(-3000)}`));
        }, timeoutMs);
        const watch = (r: AgentLogRecord): void => {
          if (r.msg !== msg || !match(r)) return;
          clearTimeout(timer);
          waiters.delete(watch);
          resolve(r);
        };
        waiters.add(watch);
      });
    },
    clear: () => byMsg.clear(),
  };
}

/** A numeric field of a log record (NaN when missing). */
export function numberField(r: AgentLogRecord, name: string): number {
  const v = r.fields[name];
  return typeof v === 'number' ? v : Number.NaN;
}
