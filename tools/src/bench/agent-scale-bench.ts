import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdminService, SetState } from '@haven/proto';
import { makeTempDir, readCharBytes, rssBytes, startAgentProcess, startControllerProcess } from '@haven/testing';
import type { AgentProcess } from '@haven/testing';
import type { BenchContext, BenchSection, SectionResult } from './bench-section.js';
import { median, mib, round } from './measure.js';
import { verdictBelow } from './percentile.js';
import { waitSetSettled } from './wait-set-settled.js';
import type { AdminClient } from './wait-set-settled.js';

/** Agent memory while watching 100k files, settled. */
export const WATCH_RSS_TARGET_BYTES = 150 * 1024 * 1024;
/** A restart must re-read metadata, not contents: bytes read below this share of the tree. */
const RCHAR_TARGET_FRACTION = 0.25;
const SET = 'many';
const HOST = 'many-1';
const PER_DIR = 500;
const FILE_BYTES = 2048;
const RSS_SAMPLE_EVERY_MS = 250;

interface LogLine {
  readonly msg: string;
  readonly timeMs: number;
  readonly fields: Record<string, unknown>;
}

function num(line: LogLine, key: string): number {
  const v = line.fields[key];
  return typeof v === 'number' ? v : Number.NaN;
}

/** The agent's JSON log lines (stderr) still in the harness's output ring. */
function logLines(agent: AgentProcess): LogLine[] {
  const out: LogLine[] = [];
  for (const raw of agent.process.output().split('\n')) {
    if (!raw.startsWith('! {')) continue;
    try {
      const fields = JSON.parse(raw.slice(2)) as Record<string, unknown>;
      if (typeof fields['msg'] === 'string' && typeof fields['time'] === 'string') out.push({ msg: fields['msg'], timeMs: Date.parse(fields['time']), fields });
    } catch {
      // not a log record
    }
  }
  return out;
}

/** Polls the output ring for `msg`; the record's own time says when it was logged. */
async function waitLogged(agent: AgentProcess, msg: string, timeoutMs: number): Promise<LogLine> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = logLines(agent).find((l) => l.msg === msg);
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) throw new Error(`agent did not log "${msg}" within ${timeoutMs} ms\n${agent.process.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function writeScaleTree(root: string, files: number): void {
  const body = Buffer.alloc(FILE_BYTES, 0x61);
  for (let d = 0; d < files / PER_DIR; d++) {
    const dir = join(root, `d${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < PER_DIR; f++) {
      // Distinct content per file, so the controller stores every one (no dedup shortcut).
      body.writeUInt32LE(d * PER_DIR + f, 0);
      writeFileSync(join(dir, `f${f}`), body);
    }
  }
}

/** Anonymous (heap, native allocations) and file-backed (the node binary, libraries) RSS. */
function rssSplit(pid: number): { anon: number; file: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN) * 1024;
    return { anon: kb('RssAnon'), file: kb('RssFile') };
  } catch {
    return { anon: Number.NaN, file: Number.NaN };
  }
}

interface RssSample {
  readonly median: number;
  readonly max: number;
  readonly samples: number;
  /** At the end of the window. */
  readonly anon: number;
  readonly file: number;
}

async function sampleRss(pid: number, seconds: number): Promise<RssSample> {
  const values: number[] = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const v = rssBytes(pid);
    if (v !== undefined) values.push(v);
    await new Promise((r) => setTimeout(r, RSS_SAMPLE_EVERY_MS));
  }
  return { median: median(values), max: Math.max(...values), samples: values.length, ...rssSplit(pid) };
}

async function waitContinuous(admin: AdminClient, timeoutMs: number): Promise<{ seq: bigint }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = (await admin.getStatus({})).sets.find((s) => s.name === SET);
    if (st !== undefined && st.state === SetState.CONTINUOUS && st.backlogFiles === 0n) return { seq: st.lastPoint?.seq ?? 0n };
    if (Date.now() > deadline) throw new Error(`set ${SET} not CONTINUOUS after restart: ${JSON.stringify(st, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function run(ctx: BenchContext): Promise<SectionResult> {
  const files = ctx.quick ? 10_000 : 100_000;
  const rssSeconds = ctx.quick ? 3 : 10;
  const entries = files + files / PER_DIR;
  const treeBytes = files * FILE_BYTES;
  const src = join(makeTempDir('haven-bench-scale-'), 'many');
  ctx.log(`reconcile: writing ${files} files of ${FILE_BYTES} B`);
  writeScaleTree(src, files);

  const ctl = await startControllerProcess({ site: 'bench' });
  const conn = ctl.connect();
  let agent: AgentProcess | undefined;
  try {
    const admin = conn.client(AdminService);
    agent = await startAgentProcess(ctl, { hostName: HOST });
    const syncStart = performance.now();
    await admin.createSet({ spec: { name: SET, host: HOST, source: { case: 'path', value: src } } });
    ctx.log('reconcile: initial sync');
    const settledSeq = await waitSetSettled(admin, SET, entries, 900_000);
    const syncMs = performance.now() - syncStart;
    ctx.log(`reconcile: settled at seq ${settledSeq} after ${round(syncMs / 1000, 1)} s; sampling RSS for ${rssSeconds} s`);
    const rssAfterSync = await sampleRss(agent.process.pid, rssSeconds);

    await agent.stop();
    ctx.log('reconcile: restarting the agent over the unchanged tree');
    const t0 = Date.now();
    await agent.restart();
    const runningMs = Date.now() - t0;
    const pid = agent.process.pid;
    const done = await waitLogged(agent, 'reconcile done', 600_000);
    const rcharAtReconcile = readCharBytes(pid) ?? Number.NaN;
    const session = logLines(agent).find((l) => l.msg === 'session established');
    const protecting = logLines(agent).find((l) => l.msg === 'protecting set');
    const reconcileLogMs = num(done, 'ms');
    const scanned = num(done, 'scanned');
    const queued = num(done, 'new') + num(done, 'modified') + num(done, 'deleted');
    const toReconcileDone = done.timeMs - t0;
    // The set worker sets up the watcher (it lists and watches every directory), then scans.
    const watcherSetupMs = protecting === undefined ? Number.NaN : done.timeMs - reconcileLogMs - protecting.timeMs;
    const cont = await waitContinuous(admin, 120_000);
    const toContinuous = Date.now() - t0;
    ctx.log(`reconcile: done ${toReconcileDone} ms after start; sampling RSS for ${rssSeconds} s`);
    const rssAfterRestart = await sampleRss(pid, rssSeconds);
    const rcharSettled = readCharBytes(pid) ?? Number.NaN;
    const finalSeq = (await admin.getStatus({})).sets.find((s) => s.name === SET)?.lastPoint?.seq ?? cont.seq;
    const degraded = logLines(agent).some((l) => l.msg === 'watcher lost events; reconciling');
    const rssMax = Math.max(rssAfterSync.max, rssAfterRestart.max);

    const data = {
      files,
      entries,
      fileBytes: FILE_BYTES,
      treeBytes,
      initialSyncMs: syncMs,
      initialSyncFilesPerSecond: files / (syncMs / 1000),
      restart: {
        toRunningMs: runningMs,
        toSessionMs: session === undefined ? null : session.timeMs - t0,
        toReconcileDoneMs: toReconcileDone,
        watcherSetupMs,
        reconcileLoggedMs: reconcileLogMs,
        reconcileScanned: scanned,
        reconcileQueued: queued,
        toContinuousMs: toContinuous,
        rcharAtReconcileDone: rcharAtReconcile,
        rcharAfterSettling: rcharSettled,
        rcharFractionOfTree: rcharSettled / treeBytes,
        pointsCommitted: Number(finalSeq - settledSeq),
      },
      rss: { afterInitialSync: rssAfterSync, afterRestart: rssAfterRestart, targetBytes: WATCH_RSS_TARGET_BYTES },
      watcherDegraded: degraded,
    };
    const pct = (x: number): string => `${round(x * 100, 1)}%`;
    return {
      title: `Agent restart over ${files} unchanged files (${FILE_BYTES} B each, ${files / PER_DIR} dirs), real agent + controller processes`,
      headers: ['metric', 'value', 'target', ''],
      rows: [
        ['initial sync (createSet -> every entry in a point)', `${round(syncMs / 1000, 1)} s (${Math.round(data.initialSyncFilesPerSecond)} files/s)`, '', ''],
        ['restart: process start -> "running"', `${runningMs} ms`, '', ''],
        ['restart: process start -> session established', session === undefined ? 'n/a' : `${session.timeMs - t0} ms`, '', ''],
        ['restart: process start -> "reconcile done"', `${toReconcileDone} ms`, '', ''],
        ['  of which: watcher setup (set worker start -> scan start)', `${round(watcherSetupMs)} ms`, '', ''],
        ['  of which: reconcile scan (its ms field)', `${round(reconcileLogMs)} ms for ${scanned} entries (${round(reconcileLogMs / (scanned / 1000), 2)} ms per 1k)`, '', ''],
        ['paths queued by the reconcile (new + modified + deleted)', `${queued}`, '0', queued === 0 ? 'ok' : 'CHANGED'],
        ['restart: process start -> CONTINUOUS, queue empty', `${toContinuous} ms`, '', ''],
        ['agent rchar at "reconcile done" / after settling', `${mib(rcharAtReconcile)} / ${mib(rcharSettled)}`, '', ''],
        ['rchar / tree content', `${pct(data.restart.rcharFractionOfTree)} of ${mib(treeBytes)}`, `< ${pct(RCHAR_TARGET_FRACTION)}`, verdictBelow(data.restart.rcharFractionOfTree, RCHAR_TARGET_FRACTION)],
        ['points committed by the restart', `${data.restart.pointsCommitted}`, '0', data.restart.pointsCommitted === 0 ? 'ok' : 'CHANGED'],
        [`agent RSS after initial sync, median / max (${rssSeconds} s)`, `${mib(rssAfterSync.median)} / ${mib(rssAfterSync.max)}`, `< ${mib(WATCH_RSS_TARGET_BYTES)}`, verdictBelow(rssAfterSync.max, WATCH_RSS_TARGET_BYTES)],
        [`agent RSS after restart, median / max (${rssSeconds} s)`, `${mib(rssAfterRestart.median)} / ${mib(rssAfterRestart.max)}`, `< ${mib(WATCH_RSS_TARGET_BYTES)}`, verdictBelow(rssAfterRestart.max, WATCH_RSS_TARGET_BYTES)],
        ['agent RSS anonymous / file-backed, after restart', `${mib(rssAfterRestart.anon)} / ${mib(rssAfterRestart.file)} (anonymous / entries: ${round(rssAfterRestart.anon / entries / 1024, 2)} KiB)`, '', ''],
        ['watcher degraded (inotify limit or overflow)', degraded ? 'yes: changes found by rescans only' : 'no', 'no', degraded ? 'DEGRADED' : 'ok'],
      ],
      notes: [
        'rchar counts every read(2) of the agent: node and its modules, the state DB, the scan; reading contents would cost the whole tree',
        `RSS sampled every ${RSS_SAMPLE_EVERY_MS} ms while the agent watches the settled tree (max of both windows: ${mib(rssMax)})`,
        'the watcher holds one inotify watch per directory (files take none); the limit (fs.inotify.max_user_watches) is shared by every process of the user',
      ],
      data,
    };
  } finally {
    conn.close();
    await agent?.stop();
    await ctl.stop();
  }
}

export const agentScaleBench: BenchSection = {
  name: 'reconcile',
  description: 'agent restart over 100k unchanged files: time to "reconcile done", bytes read, RSS while watching',
  run,
};
