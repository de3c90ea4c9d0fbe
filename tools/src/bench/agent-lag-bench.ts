import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorCodeOf } from '@haven/core';
import { AdminService } from '@haven/proto';
import { makeTempDir, startAgentProcess, startControllerProcess } from '@haven/testing';
import type { AgentProcess, ControllerProcess } from '@haven/testing';
import { numberField, tapAgentLog } from './agent-log-tap.js';
import type { AgentLogRecord, AgentLogTap } from './agent-log-tap.js';
import { startBackgroundWriter } from './background-writer.js';
import type { BackgroundWriterReport } from './background-writer.js';
import { createChildProfiler } from './controller-profiler.js';
import { packageTable } from './cpu-profile-packages.js';
import type { BenchContext, BenchSection, BenchTable, SectionResult } from './bench-section.js';
import { round } from './measure.js';
import { mean, percentile, verdictBelow } from './percentile.js';
import { processCpuMs } from './process-cpu.js';
import { waitSetSettled } from './wait-set-settled.js';
import type { AdminClient } from './wait-set-settled.js';

/** Change-to-durable lag targets: a write is in a committed point this soon after it is made. */
export const LAG_TARGET_P50_MS = 300;
export const LAG_TARGET_P99_MS = 1000;
const SET = 'lag';
const HOST = 'lag-1';
const PROBE_BYTES = 4096;
/** Background load: small files written into the same tree, as a busy server's logs and caches. */
const LOAD_PER_SEC = 50;
const LOAD_NAMES = 400;
/** Files already in the tree (captured before measuring). */
const BASE_FILES = 100;
/** Start-to-start interval of visibility polls while a probe is pending. */
const POLL_MS = 5;
const PROBE_TIMEOUT_MS = 30_000;
const WARMUP_PROBES = 3;

interface Probe {
  /** performance.now() and Date.now() just before writeFile. */
  readonly t0: number;
  readonly wall0: number;
  /** First poll that saw the entry: its response time (an upper bound of the lag). */
  readonly seenMs: number;
  /** Start of the last poll that did not see it (a lower bound). */
  readonly missedMs: number;
  readonly polls: number;
  readonly seq: bigint;
}

interface Phases {
  /** Write -> the agent's batch holding it starts: watcher event, coalescing, queue wait. */
  captureQueue: number;
  prepare: number;
  upload: number;
  commit: number;
  /** Commit ack at the agent -> the bench's poll saw it (poll granularity, ack in flight). */
  ackToSeen: number;
  batchChanges: number;
}

async function waitVisible(admin: AdminClient, path: string, t0: number): Promise<Omit<Probe, 't0' | 'wall0'>> {
  let missedMs = t0;
  let polls = 0;
  let last = 'not listed';
  for (;;) {
    const start = performance.now();
    polls += 1;
    try {
      for await (const r of admin.listFiles({ set: SET, path, point: { point: { case: 'latest', value: true } } })) {
        const e = r.entries.find((x) => x.path === path);
        if (e !== undefined && e.size === BigInt(PROBE_BYTES)) return { seenMs: performance.now() - t0, missedMs: missedMs - t0, polls, seq: e.seqFrom };
        if (e !== undefined) last = `listed with ${e.size} bytes at seq ${e.seqFrom}`;
      }
    } catch (err) {
      if (errorCodeOf(err) !== 'NOT_FOUND') throw err;
    }
    missedMs = start;
    if (start - t0 > PROBE_TIMEOUT_MS) throw new Error(`${path} not visible at the controller after ${PROBE_TIMEOUT_MS} ms (${last})`);
    const wait = start + POLL_MS - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

async function readBack(admin: AdminClient, path: string, seq: bigint): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const r of admin.readFile({ set: SET, path, point: { point: { case: 'seq', value: seq } } })) parts.push(r.data);
  return Buffer.concat(parts);
}

/** Splits one probe's lag along the agent's `batch committed` record of the seq that holds it. */
function phasesOf(p: Probe, batch: AgentLogRecord): Phases {
  const prepare = numberField(batch, 'prepareMs');
  const upload = numberField(batch, 'uploadMs');
  const commit = numberField(batch, 'commitMs');
  const record = numberField(batch, 'recordMs');
  // The record is logged after the ack was recorded; its time is in whole milliseconds.
  const ackAt = batch.timeMs - record;
  const batchStart = ackAt - commit - upload - prepare;
  return {
    captureQueue: batchStart - p.wall0,
    prepare,
    upload,
    commit,
    ackToSeen: p.wall0 + p.seenMs - ackAt,
    batchChanges: numberField(batch, 'changes'),
  };
}

async function scrape(ctl: ControllerProcess): Promise<{ commits: number; commitSeconds: number }> {
  const m = await ctl.metrics();
  return {
    commits: m.get(`haven_commits_total{set="${SET}"}`) ?? 0,
    commitSeconds: m.get(`haven_commit_duration_seconds_sum{set="${SET}"}`) ?? 0,
  };
}

function phaseTable(probes: readonly Probe[], phases: readonly Phases[]): BenchTable {
  const lagCut = percentile(
    probes.map((p) => p.seenMs),
    90,
  );
  const slow = phases.filter((_, i) => (probes[i]?.seenMs ?? 0) >= lagCut);
  const row = (name: string, pick: (x: Phases) => number): Array<string | number> => {
    const all = phases.map(pick);
    return [name, round(mean(all)), round(percentile(all, 50)), round(percentile(all, 99)), round(mean(slow.map(pick)))];
  };
  return {
    title: 'Where a probe waits (ms; from the agent batch that committed it)',
    headers: ['phase', 'mean', 'p50', 'p99', 'mean of slowest 10%'],
    rows: [
      row('write -> batch start (watch event, debounce, queue)', (x) => x.captureQueue),
      row('batch: stat, read, chunk, find-missing', (x) => x.prepare),
      row('batch: upload chunks', (x) => x.upload),
      row('batch: commit RPC (controller fsync + catalog)', (x) => x.commit),
      row('commit ack -> seen by the poll', (x) => x.ackToSeen),
      row('changes in that batch (count)', (x) => x.batchChanges),
    ],
    notes: [`${phases.length} of ${probes.length} probes matched to their batch; phase percentiles are per phase and do not add up`],
  };
}

async function probeAll(ctx: BenchContext, admin: AdminClient, src: string, count: number, tap: AgentLogTap, agentOutput: () => string): Promise<{ probes: Probe[]; phases: Phases[] }> {
  const probes: Probe[] = [];
  const phases: Phases[] = [];
  for (let i = -WARMUP_PROBES; i < count; i++) {
    const path = `probes/p-${i + WARMUP_PROBES}.dat`;
    const body = randomBytes(PROBE_BYTES);
    const wall0 = Date.now();
    const t0 = performance.now();
    await writeFile(join(src, path), body);
    const seen = await waitVisible(admin, path, t0).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n${agentOutput()}`);
    });
    const back = await readBack(admin, path, seen.seq);
    if (!back.equals(body)) throw new Error(`${path} at seq ${seen.seq} differs from what was written`);
    if (i >= 0) {
      const probe = { t0, wall0, ...seen };
      probes.push(probe);
      const batch = await tap.waitFor('batch committed', 2000, (r) => numberField(r, 'seq') === Number(seen.seq)).catch(() => undefined);
      if (batch !== undefined) phases.push(phasesOf(probe, batch));
      if ((i + 1) % 50 === 0) ctx.log(`lag: ${i + 1}/${count} probes, p50 so far ${round(percentile(probes.map((p) => p.seenMs), 50))} ms`);
    }
    // A random pause, so probes land at every phase of the agent's batch cycle.
    await new Promise((r) => setTimeout(r, 20 + Math.random() * 100));
  }
  return { probes, phases };
}

async function run(ctx: BenchContext): Promise<SectionResult> {
  const count = ctx.quick ? 30 : 200;
  const src = join(makeTempDir('haven-bench-lag-'), 'tree');
  for (const d of ['base', 'probes', 'load']) mkdirSync(join(src, d), { recursive: true });
  for (let i = 0; i < BASE_FILES; i++) writeFileSync(join(src, 'base', `b-${i}.dat`), randomBytes(PROBE_BYTES));

  const ctlProfiler = createChildProfiler(ctx.profileDir, 'lag-controller');
  const agentProfiler = createChildProfiler(ctx.profileDir, 'lag-agent');
  const ctl = await startControllerProcess({ site: 'bench', metrics: true, env: ctlProfiler.env });
  let agent: AgentProcess | undefined;
  const conn = ctl.connect();
  try {
    const admin = conn.client(AdminService);
    agent = await startAgentProcess(ctl, { hostName: HOST, env: { HAVEN_LOG_LEVEL: 'debug', ...agentProfiler.env } });
    const tap = tapAgentLog(agent.process);
    await admin.createSet({ spec: { name: SET, host: HOST, source: { case: 'path', value: src } } });
    await waitSetSettled(admin, SET, BASE_FILES + 3, 120_000);

    ctx.log(`lag: ${count} probes of ${PROBE_BYTES} B under ${LOAD_PER_SEC} writes/s of background load`);
    const load = startBackgroundWriter(join(src, 'load'), { perSecond: LOAD_PER_SEC, names: LOAD_NAMES, minBytes: 256, maxBytes: 2048 });
    let loadReport: BackgroundWriterReport;
    let result: { probes: Probe[]; phases: Phases[] };
    let before: { commits: number; commitSeconds: number };
    let after: { commits: number; commitSeconds: number };
    /** The measured window: CPU time of both processes and wall-clock bounds. */
    let cpu0: { agent: number; controller: number; atMs: number };
    let cpu1: { agent: number; controller: number; atMs: number };
    let profiles: Array<string | undefined> = [];
    try {
      // Let the load reach its steady state before the first probe.
      await new Promise((r) => setTimeout(r, 2000));
      tap.clear();
      before = await scrape(ctl);
      await Promise.all([agentProfiler.start(agent.process.pid), ctlProfiler.start(ctl.process.pid)]);
      cpu0 = { agent: processCpuMs(agent.process.pid) ?? Number.NaN, controller: processCpuMs(ctl.process.pid) ?? Number.NaN, atMs: Date.now() };
      result = await probeAll(ctx, admin, src, count, tap, () => agent?.process.output().slice(-4000) ?? '');
      cpu1 = { agent: processCpuMs(agent.process.pid) ?? Number.NaN, controller: processCpuMs(ctl.process.pid) ?? Number.NaN, atMs: Date.now() };
      profiles = await Promise.all([agentProfiler.stop(agent.process.pid), ctlProfiler.stop(ctl.process.pid)]);
      after = await scrape(ctl);
    } finally {
      loadReport = await load.stop();
    }
    const windowSeconds = (cpu1.atMs - cpu0.atMs) / 1000;
    const { probes, phases } = result;
    const seen = probes.map((p) => p.seenMs);
    const missed = probes.map((p) => p.missedMs);
    const mid = probes.map((p) => (p.seenMs + p.missedMs) / 2);
    const p50 = percentile(seen, 50);
    const p99 = percentile(seen, 99);
    const uncertainty = probes.map((p) => p.seenMs - p.missedMs);
    const batches = tap.records('batch committed').filter((b) => b.timeMs >= cpu0.atMs && b.timeMs <= cpu1.atMs);
    const commits = after.commits - before.commits;
    const ctlCommitMs = commits > 0 ? ((after.commitSeconds - before.commitSeconds) * 1000) / commits : Number.NaN;
    const agentCpuMs = cpu1.agent - cpu0.agent;
    const controllerCpuMs = cpu1.controller - cpu0.controller;
    const data = {
      probes: probes.length,
      probeBytes: PROBE_BYTES,
      pollIntervalMs: POLL_MS,
      lagMs: { p50, p90: percentile(seen, 90), p99, max: Math.max(...seen), mean: mean(seen) },
      lagLowerBoundMs: { p50: percentile(missed, 50), p99: percentile(missed, 99) },
      lagMidpointMs: { p50: percentile(mid, 50), p99: percentile(mid, 99) },
      meanPollWindowMs: mean(uncertainty),
      meanPollsPerProbe: mean(probes.map((p) => p.polls)),
      targets: { p50Ms: LAG_TARGET_P50_MS, p99Ms: LAG_TARGET_P99_MS },
      backgroundLoad: { targetPerSecond: LOAD_PER_SEC, ...loadReport },
      agentBatches: batches.length,
      agentBatchesPerSecond: batches.length / windowSeconds,
      meanChangesPerBatch: mean(batches.map((b) => numberField(b, 'changes'))),
      controllerCommits: commits,
      controllerMeanCommitMs: ctlCommitMs,
      // The controller also answers the bench's visibility polls.
      cpu: { agentMs: agentCpuMs, controllerMs: controllerCpuMs, windowSeconds, agentMsPerBatch: agentCpuMs / batches.length },
      phases: phases.length === 0 ? null : Object.fromEntries((Object.keys(phases[0]!) as Array<keyof Phases>).map((k) => [k, { mean: mean(phases.map((x) => x[k])), p50: percentile(phases.map((x) => x[k]), 50), p99: percentile(phases.map((x) => x[k]), 99) }])),
      samplesMs: seen.map((x) => round(x, 2)),
    };
    return {
      title: `Change-to-durable lag (${PROBE_BYTES} B write -> in a committed point at the controller; real agent + controller processes)`,
      headers: ['metric', 'value', 'target', ''],
      rows: [
        ['probes (each a new file with unique content)', `${probes.length}`, '', ''],
        ['lag p50', `${round(p50)} ms`, `< ${LAG_TARGET_P50_MS} ms`, verdictBelow(p50, LAG_TARGET_P50_MS)],
        ['lag p99', `${round(p99)} ms`, `< ${LAG_TARGET_P99_MS} ms`, verdictBelow(p99, LAG_TARGET_P99_MS)],
        ['lag p90 / max / mean', `${round(data.lagMs.p90)} / ${round(data.lagMs.max)} / ${round(data.lagMs.mean)} ms`, '', ''],
        ['lower bound p50 / p99 (last poll that missed it)', `${round(data.lagLowerBoundMs.p50)} / ${round(data.lagLowerBoundMs.p99)} ms`, '', ''],
        ['poll: interval / mean window between miss and hit', `${POLL_MS} ms / ${round(data.meanPollWindowMs, 2)} ms`, '', ''],
        ['background load achieved', `${round(loadReport.perSecond)} writes/s (${loadReport.writes} writes of 256 B-2 KiB over ${LOAD_NAMES} names in one directory)`, `${LOAD_PER_SEC}/s`, ''],
        ['agent batches committed / s, changes per batch', `${round(data.agentBatchesPerSecond, 2)} / ${round(data.meanChangesPerBatch, 1)}`, '', ''],
        ['controller commit time (mean, metrics)', `${round(ctlCommitMs, 2)} ms over ${commits} commits`, '', ''],
        [
          'CPU: agent / controller (share of one core; controller also serves the polls)',
          `${round((100 * agentCpuMs) / 1000 / windowSeconds)}% / ${round((100 * controllerCpuMs) / 1000 / windowSeconds)}% (agent ${round(data.cpu.agentMsPerBatch)} ms CPU per batch)`,
          '',
          '',
        ],
      ],
      notes: [
        'lag = from just before writeFile to the response of the first listFiles poll (at latest) that lists the probe;',
        'the commit became visible between the last missing poll and that response: the reported lag overstates by at most that window',
        `each probe is read back at its seq and compared byte for byte (not timed); ${WARMUP_PROBES} warm-up probes are not counted`,
      ],
      extra: [
        phaseTable(probes, phases),
        ...(ctx.profileDir === undefined
          ? []
          : [
              await packageTable('Where the CPU goes during the probes (main thread, sampled)', [
                { name: 'agent', path: profiles[0] },
                { name: 'controller', path: profiles[1] },
              ]),
            ]),
      ],
      data,
    };
  } finally {
    conn.close();
    await agent?.stop();
    await ctl.stop();
  }
}

export const agentLagBench: BenchSection = {
  name: 'lag',
  description: 'change-to-durable lag p50/p99 of 4 KiB writes under 50 writes/s of background load',
  run,
};
