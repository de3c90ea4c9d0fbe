import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { chunkIdToBytes } from '@haven/core';
import { AdminService, EntryType } from '@haven/proto';
import type { FileChangeSchema } from '@haven/proto';
import { createChunkSink, createChunkUploader, createContentSender, uplinkFromClient } from '@haven/agent';
import { enrollTestHost, makeTempDir, startControllerProcess } from '@haven/testing';
import type { ControllerProcess, TestHost } from '@haven/testing';
import type { BenchContext, BenchSection, BenchTable, SectionResult } from './bench-section.js';
import { summarizeCpuProfile } from './cpu-profile-summary.js';
import { startCpuProfile } from './cpu-profiler.js';
import { createChildProfiler } from './controller-profiler.js';
import { createCorpus, writeCorpus } from './corpus.js';
import { prepareReplay, replayIngest } from './ingest-replay.js';
import type { ReplayBatch } from './ingest-replay.js';
import type { Corpus } from './corpus.js';
import { diskUsage } from './disk-usage.js';
import { mbPerSec, mib, round, timed, verdict } from './measure.js';
import { ownCpuMs, processCpuMs } from './process-cpu.js';

const MiB = 1024 * 1024;
/** What one controller should absorb from one agent on loopback (2 cores shared by both). */
export const INGEST_TARGET_MBPS = 250;
/** Files per commit: a commit waits for fsync, so committing every file would measure fsync. */
const COMMIT_FILES = 32;
/** Files read and chunked at once within a commit batch, as the agent's set worker does. */
const PREPARE_CONCURRENCY = 8;
const SET = 'bench';
const HOST = 'bench-1';

type FileChange = MessageInitShape<typeof FileChangeSchema>;

function corpusFor(quick: boolean): Corpus {
  return createCorpus({
    seed: 'bench/ingest',
    files: quick ? 32 : 256,
    totalBytes: (quick ? 64 : 1024) * MiB,
    minFileBytes: 256 * 1024,
    maxFileBytes: 16 * MiB,
    duplicateFraction: 0.3,
    // Several chunks per block, so most of a repeated block dedups (a block dedups only in
    // the chunks wholly inside it); smaller in quick mode so the small files still hold some.
    sharedBlockBytes: (quick ? 4 : 8) * MiB,
    compressibleFraction: 0.5,
  });
}

/** Every directory above the corpus files, parents first. */
function directoriesOf(corpus: Corpus): string[] {
  const dirs = new Set<string>();
  for (const f of corpus.files) {
    const parts = f.path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return [...dirs].sort();
}

interface IngestTotals {
  chunks: number;
  offered: number;
  sent: number;
  sentBytes: number;
  rawBytes: number;
  commits: number;
  commitMs: number;
}

/**
 * Uploads and commits the corpus the way the agent's set worker does: per commit batch one
 * chunk sink (find-missing and upload in rounds across files), files read and chunked
 * PREPARE_CONCURRENCY at a time, the sink flushed, then one commit. Timed from the first read
 * to the last commit ack.
 */
async function ingest(host: TestHost, corpus: Corpus, corpusDir: string): Promise<{ wallMs: number; totals: IngestTotals }> {
  const agent = host.agent();
  const uploader = createChunkUploader(uplinkFromClient(agent));
  const totals: IngestTotals = { chunks: 0, offered: 0, sent: 0, sentBytes: 0, rawBytes: 0, commits: 0, commitMs: 0 };
  const dirs: FileChange[] = directoriesOf(corpus).map((path) => ({ path, type: EntryType.DIR, mode: 0o755 }));
  const start = performance.now();
  for (let b = 0; b < corpus.files.length; b += COMMIT_FILES) {
    const files = corpus.files.slice(b, b + COMMIT_FILES);
    const sink = createChunkSink(uploader, SET);
    const changes: FileChange[] = b === 0 ? [...dirs] : [];
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let f = files[next++]; f !== undefined; f = files[next++]) {
        const sender = createContentSender(sink);
        for await (const buf of createReadStream(join(corpusDir, ...f.path.split('/')), { highWaterMark: MiB })) await sender.push(buf as Buffer);
        const sent = await sender.finish();
        if (sent.size !== f.size) throw new Error(`${f.path}: read ${sent.size} bytes, expected ${f.size}`);
        totals.chunks += sent.chunkCount;
        changes.push({ path: f.path, type: EntryType.FILE, mode: 0o644, size: BigInt(f.size), contentRoot: chunkIdToBytes(sent.contentRoot) });
      }
    };
    await Promise.all(Array.from({ length: Math.min(PREPARE_CONCURRENCY, files.length) }, worker));
    await sink.flush();
    totals.offered += sink.stats.offered;
    totals.sent += sink.stats.sent;
    totals.sentBytes += sink.stats.sentBytes;
    totals.rawBytes += sink.stats.rawBytes;
    changes.sort((x, y) => ((x.path ?? '') < (y.path ?? '') ? -1 : 1));
    const t = await timed(() => agent.commit({ set: SET, epoch: 1n, batchId: `bench-${totals.commits}`, changes }));
    totals.commits += 1;
    totals.commitMs += t.ms;
  }
  return { wallMs: performance.now() - start, totals };
}

/** Reads one file back through the Admin API: the measured path must also be a correct one. */
async function checkReadBack(ctl: ControllerProcess, corpus: Corpus): Promise<void> {
  const f = corpus.files.reduce((a, b) => (b.size > a.size ? b : a));
  const conn = ctl.connect();
  try {
    const hash = createHash('sha256');
    for await (const r of conn.client(AdminService).readFile({ set: SET, path: f.path, point: { point: { case: 'latest', value: true } } })) hash.update(r.data);
    const want = createHash('sha256').update(corpus.fileBytes(f.index)).digest('hex');
    if (hash.digest('hex') !== want) throw new Error(`read-back of ${f.path} differs from what was ingested`);
  } finally {
    conn.close();
  }
}

/**
 * The controller's own capacity: the same corpus, cut, hashed and compressed ahead of time
 * (the agent's work, which in production runs on the protected host), replayed over
 * loopback gRPC + mTLS to a fresh controller: find-missing, upload, verify, store, commit.
 */
interface CapacityRun {
  wallMs: number;
  controllerCpuMs: number | undefined;
  senderCpuMs: number;
  bytesSent: number;
  chunksSent: number;
  findMissingMs: number;
  uploadMs: number;
  commitMs: number;
}

/** Replays are short (seconds), so one run is at the mercy of anything else on the machine. */
const CAPACITY_RUNS = 3;

async function controllerCapacity(ctx: BenchContext, corpus: Corpus, corpusDir: string): Promise<{ median: CapacityRun; runsMBps: number[] }> {
  ctx.log('ingest: preparing upload messages for the controller-capacity replay');
  const batches = await prepareReplay(corpus, corpusDir, COMMIT_FILES, directoriesOf(corpus).map((path) => ({ path, type: EntryType.DIR, mode: 0o755 })));
  const runs: CapacityRun[] = [];
  for (let i = 0; i < (ctx.quick ? 1 : CAPACITY_RUNS); i++) runs.push(await replayOnce(ctx, corpus, batches, i));
  runs.sort((a, b) => a.wallMs - b.wallMs);
  return { median: runs[runs.length >> 1]!, runsMBps: runs.map((r) => mbPerSec(corpus.totalBytes, r.wallMs)) };
}

/** Enrolls the bench host on `ctl` and creates its set. */
async function enrollBenchHost(ctl: ControllerProcess): Promise<TestHost> {
  const admin = ctl.connect();
  try {
    const host = await enrollTestHost(ctl, HOST);
    await admin.client(AdminService).createSet({ spec: { name: SET, host: HOST, source: { case: 'path', value: '/srv/bench' } } });
    return host;
  } finally {
    admin.close();
  }
}

async function replayOnce(ctx: BenchContext, corpus: Corpus, batches: ReplayBatch[], run: number): Promise<CapacityRun> {
  const profiler = createChildProfiler(run === 0 ? ctx.profileDir : undefined, 'controller-replay');
  const ctl = await startControllerProcess({ site: 'bench', env: profiler.env });
  let host: TestHost | undefined;
  try {
    host = await enrollBenchHost(ctl);
    ctx.log(`ingest: replaying to a fresh controller (run ${run + 1})`);
    await profiler.start(ctl.process.pid);
    const cpu0 = { sender: ownCpuMs(), controller: processCpuMs(ctl.process.pid) };
    const t = await timed(() => replayIngest(host!.agent(), SET, batches));
    const senderCpuMs = ownCpuMs() - cpu0.sender;
    const end = processCpuMs(ctl.process.pid);
    await profiler.stop(ctl.process.pid);
    await checkReadBack(ctl, corpus);
    return {
      wallMs: t.ms,
      controllerCpuMs: cpu0.controller === undefined || end === undefined ? undefined : end - cpu0.controller,
      senderCpuMs,
      bytesSent: t.value.bytesSent,
      chunksSent: t.value.chunksSent,
      findMissingMs: t.value.findMissingMs,
      uploadMs: t.value.uploadMs,
      commitMs: t.value.commitMs,
    };
  } finally {
    host?.close();
    await ctl.stop();
  }
}

/** Main-thread time of both sides over the measured span, by category (see cpu-profile-summary.ts). */
async function profileTable(agentPath: string, controllerPath: string | undefined): Promise<BenchTable> {
  const agent = await summarizeCpuProfile(agentPath);
  const ctl = controllerPath === undefined ? undefined : await summarizeCpuProfile(controllerPath);
  const names = [...new Set([...Object.keys(agent.categories), ...Object.keys(ctl?.categories ?? {})])].filter((n) => n !== 'idle');
  const ms = (s: typeof agent | undefined, n: string): number => s?.categories[n] ?? 0;
  names.sort((a, b) => ms(agent, b) + ms(ctl, b) - (ms(agent, a) + ms(ctl, a)));
  const cell = (s: typeof agent | undefined, n: string): string => (s === undefined ? 'n/a' : `${Math.round(ms(s, n))} ms (${round((100 * ms(s, n)) / s.totalMs, 1)}%)`);
  return {
    title: 'Where the time goes (main thread, sampled over the measured span)',
    headers: ['category', 'agent', 'controller'],
    rows: [...names.map((n) => [n, cell(agent, n), cell(ctl, n)]), ['idle (waiting)', cell(agent, 'idle'), cell(ctl, 'idle')]],
    notes: [`profiles: ${agentPath}, ${controllerPath ?? '(controller profile missing)'}`, 'GC helper threads and the libuv pool run beside the main thread: see the CPU s per GiB row'],
  };
}

async function run(ctx: BenchContext): Promise<SectionResult> {
  const corpus = corpusFor(ctx.quick);
  const corpusDir = join(makeTempDir('haven-bench-corpus-'), 'tree');
  ctx.log(`ingest: writing corpus (${corpus.files.length} files, ${mib(corpus.totalBytes)}) to ${corpusDir}`);
  await writeCorpus(corpus, corpusDir);

  const ctlProfiler = createChildProfiler(ctx.profileDir, 'controller');
  const ctl = await startControllerProcess({ site: 'bench', env: ctlProfiler.env });
  let host: TestHost | undefined;
  try {
    host = await enrollBenchHost(ctl);

    ctx.log('ingest: uploading through the agent uplink');
    await ctlProfiler.start(ctl.process.pid);
    const profile = await startCpuProfile(ctx.profileDir, 'agent');
    const cpu0 = { agent: ownCpuMs(), controller: processCpuMs(ctl.process.pid) };
    const { wallMs, totals } = await ingest(host, corpus, corpusDir);
    const agentCpuMs = ownCpuMs() - cpu0.agent;
    const ctlCpuEnd = processCpuMs(ctl.process.pid);
    const controllerCpuMs = cpu0.controller === undefined || ctlCpuEnd === undefined ? undefined : ctlCpuEnd - cpu0.controller;
    const agentProfile = await profile.stop();
    const controllerProfile = await ctlProfiler.stop(ctl.process.pid);
    await checkReadBack(ctl, corpus);
    const stored = await diskUsage(join(ctl.dataDir, 'chunks', 'packs'));
    const chunksDir = await diskUsage(join(ctl.dataDir, 'chunks'));
    // The first controller stays up but idle meanwhile.
    const { median: capacity, runsMBps } = await controllerCapacity(ctx, corpus, corpusDir);
    const capacityRate = mbPerSec(corpus.totalBytes, capacity.wallMs);

    const logical = corpus.totalBytes;
    const rate = mbPerSec(logical, wallMs);
    const dedupSaved = 1 - totals.rawBytes / logical;
    const data = {
      files: corpus.files.length,
      logicalBytes: logical,
      plannedDuplicateFraction: corpus.duplicateBytes / logical,
      textFraction: corpus.textBytes / logical,
      wallMs,
      logicalMBps: rate,
      targetMBps: INGEST_TARGET_MBPS,
      chunks: totals.chunks,
      chunksOffered: totals.offered,
      chunksSent: totals.sent,
      rawBytesSent: totals.rawBytes,
      payloadBytesSent: totals.sentBytes,
      agentCpuMs,
      controllerCpuMs,
      commits: totals.commits,
      commitMsTotal: totals.commitMs,
      dedupRatio: logical / totals.rawBytes,
      dedupSavedFraction: dedupSaved,
      wireFraction: totals.sentBytes / logical,
      packBytes: stored.bytes,
      chunksDirAllocatedBytes: chunksDir.allocatedBytes,
      storedFraction: stored.bytes / logical,
      controllerCapacity: { ...capacity, logicalMBps: capacityRate, runsMBps, targetMBps: INGEST_TARGET_MBPS },
      ...(ctx.profileDir === undefined ? {} : { profiles: { agent: agentProfile, controller: controllerProfile ?? null } }),
    };
    const pct = (x: number): string => `${round(x * 100, 1)}%`;
    const cpuPerGiB = (ms: number | undefined): string => (ms === undefined ? 'n/a' : String(round(ms / 1000 / (logical / 2 ** 30), 2)));
    return {
      title: 'Controller ingest (agent uplink -> real controller process, loopback gRPC)',
      headers: ['metric', 'value', 'target', ''],
      rows: [
        ['logical data', `${mib(logical)} in ${corpus.files.length} files, ${pct(data.plannedDuplicateFraction)} duplicate content, ${pct(data.textFraction)} text-like`, '', ''],
        ['wall time (first read -> last commit ack)', `${round(wallMs / 1000, 2)} s`, '', ''],
        ['controller ingest MB/s (agent work done ahead, replayed; median)', `${round(capacityRate)} (runs: ${runsMBps.map((r) => round(r)).join(', ')})`, `>= ${INGEST_TARGET_MBPS}`, verdict(capacityRate, INGEST_TARGET_MBPS)],
        ['  CPU s per GiB: sender / controller', `${cpuPerGiB(capacity.senderCpuMs)} / ${cpuPerGiB(capacity.controllerCpuMs)}`, '', ''],
        ['  find-missing / upload / commit (wall)', `${round(capacity.findMissingMs)} / ${round(capacity.uploadMs)} / ${round(capacity.commitMs)} ms`, '', ''],
        ['full pipeline MB/s (agent and controller on these 2 cores)', round(rate), `>= ${INGEST_TARGET_MBPS}`, verdict(rate, INGEST_TARGET_MBPS)],
        ['  CPU s per GiB: agent (this process) / controller', `${cpuPerGiB(agentCpuMs)} / ${cpuPerGiB(controllerCpuMs)}`, '', ''],
        ['data chunks / offered (with list chunks) / sent', `${totals.chunks} / ${totals.offered} / ${totals.sent}`, '', ''],
        // Rounds in flight at once may both send a chunk neither had: raw sent can exceed unique.
        ['dedup ratio (logical / raw bytes sent)', `${round(data.dedupRatio, 2)}x (${pct(dedupSaved)} not sent)`, '', ''],
        ['bytes sent over the wire (chunk payloads)', `${mib(totals.sentBytes)} (${pct(data.wireFraction)} of logical)`, '', ''],
        ['stored bytes (pack files) / logical', `${mib(stored.bytes)} (${pct(data.storedFraction)})`, '', ''],
        ['controller chunks dir on disk (du)', mib(chunksDir.allocatedBytes), '', ''],
        ['commits (files per commit) / total commit time', `${totals.commits} (${COMMIT_FILES}) / ${round(totals.commitMs)} ms`, '', ''],
        ['agent pipeline', `chunk sink per commit, ${PREPARE_CONCURRENCY} files prepared at once`, '', ''],
      ],
      notes: [
        'corpus read from the page cache (written just before); MB = 10^6 bytes',
        'controller ingest: the corpus cut, hashed and zstd-compressed in advance (the agent runs on the protected host), then find-missing, upload, verify, store and commit timed against a fresh controller',
        'full pipeline: reading, FastCDC, BLAKE3 and zstd in this process plus the controller, both on this machine',
      ],
      extra: ctx.profileDir === undefined ? [] : [await profileTable(agentProfile, controllerProfile)],
      data,
    };
  } finally {
    host?.close();
    await ctl.stop();
  }
}

export const ingestBench: BenchSection = {
  name: 'ingest',
  description: 'end-to-end ingest MB/s through a real controller process over loopback gRPC',
  run,
};
