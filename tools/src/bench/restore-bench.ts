import { join } from 'node:path';
import { AdminService, JobState } from '@haven/proto';
import type { Job } from '@haven/proto';
import { diffTrees, generateTree, makeTempDir, startAgentProcess, startControllerProcess, treeDigest } from '@haven/testing';
import type { AgentProcess } from '@haven/testing';
import type { BenchContext, BenchSection, SectionResult } from './bench-section.js';
import { createChildProfiler } from './controller-profiler.js';
import { packageTable } from './cpu-profile-packages.js';
import { mbPerSec, mib, round } from './measure.js';
import { processCpuMs } from './process-cpu.js';
import { waitSetSettled } from './wait-set-settled.js';
import type { AdminClient } from './wait-set-settled.js';

const MiB = 1024 * 1024;
const SET = 'restore';
const HOST = 'restore-1';
const TERMINAL: ReadonlySet<JobState> = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED]);

/** Follows a job until it ends; returns its final form. */
async function watchToEnd(admin: AdminClient, id: string): Promise<Job> {
  let last: Job | undefined;
  for await (const r of admin.watchJob({ id })) {
    last = r.job;
    if (last !== undefined && TERMINAL.has(last.state)) break;
  }
  if (last === undefined) throw new Error(`restore job ${id} sent no updates`);
  return last;
}

async function run(ctx: BenchContext): Promise<SectionResult> {
  const totalBytes = (ctx.quick ? 64 : 1024) * MiB;
  const fileCount = ctx.quick ? 400 : 2000;
  const src = join(makeTempDir('haven-bench-restore-src-'), 'tree');
  ctx.log(`restore: generating ${fileCount} files, ${mib(totalBytes)}`);
  const tree = generateTree(src, { files: fileCount, totalBytes, seed: 20_251_121 });
  const want = treeDigest(src);

  const ctlProfiler = createChildProfiler(ctx.profileDir, 'restore-controller');
  const agentProfiler = createChildProfiler(ctx.profileDir, 'restore-agent');
  const ctl = await startControllerProcess({ site: 'bench', env: ctlProfiler.env });
  const conn = ctl.connect();
  let agent: AgentProcess | undefined;
  try {
    const admin = conn.client(AdminService);
    agent = await startAgentProcess(ctl, { hostName: HOST, env: agentProfiler.env });
    const syncStart = performance.now();
    await admin.createSet({ spec: { name: SET, host: HOST, source: { case: 'path', value: src } } });
    const seq = await waitSetSettled(admin, SET, want.size, 600_000);
    const syncMs = performance.now() - syncStart;

    // The target is on the protected host (the agent writes it), outside the protected tree.
    const target = join(makeTempDir('haven-bench-restore-out-'), 'out');
    ctx.log(`restore: restoring seq ${seq} through the agent`);
    const pids = { agent: agent.process.pid, controller: ctl.process.pid };
    await Promise.all([agentProfiler.start(pids.agent), ctlProfiler.start(pids.controller)]);
    const cpu0 = { agent: processCpuMs(pids.agent) ?? Number.NaN, controller: processCpuMs(pids.controller) ?? Number.NaN };
    const t0 = performance.now();
    const { job } = await admin.startRestore({ set: SET, point: { point: { case: 'seq', value: seq } }, host: HOST, target });
    if (job === undefined) throw new Error('startRestore returned no job');
    const end = await watchToEnd(admin, job.id);
    const wallMs = performance.now() - t0;
    const agentCpuMs = (processCpuMs(pids.agent) ?? Number.NaN) - cpu0.agent;
    const controllerCpuMs = (processCpuMs(pids.controller) ?? Number.NaN) - cpu0.controller;
    const profiles = await Promise.all([agentProfiler.stop(pids.agent), ctlProfiler.stop(pids.controller)]);
    if (end.state !== JobState.SUCCEEDED) throw new Error(`restore job ${JobState[end.state] ?? end.state}: ${end.error?.code ?? ''} ${end.error?.message ?? ''}`);
    const verifyStart = performance.now();
    const diff = diffTrees(want, treeDigest(target));
    if (diff.length > 0) throw new Error(`restored tree differs from the source:\n${diff.join('\n')}`);
    const verifyMs = performance.now() - verifyStart;
    const result = end.result?.result.case === 'restore' ? end.result.result.value : undefined;
    const agentMs = result?.duration === undefined ? Number.NaN : Number(result.duration.seconds) * 1000 + result.duration.nanos / 1e6;
    const rate = mbPerSec(tree.bytes, wallMs);

    const data = {
      files: tree.files,
      dirs: tree.dirs,
      symlinks: tree.symlinks,
      bytes: tree.bytes,
      initialSyncMs: syncMs,
      initialSyncMBps: mbPerSec(tree.bytes, syncMs),
      restoreWallMs: wallMs,
      restoreMBps: rate,
      agentReportedMs: agentMs,
      agentReportedMBps: mbPerSec(tree.bytes, agentMs),
      agentCpuMs,
      controllerCpuMs,
      restoredFiles: result === undefined ? null : Number(result.files),
      restoredBytes: result === undefined ? null : Number(result.bytes),
      verifyMs,
      verified: true,
    };
    return {
      title: 'Restore through the agent (startRestore -> job SUCCEEDED; real agent + controller processes)',
      headers: ['metric', 'value'],
      rows: [
        ['tree', `${mib(tree.bytes)} in ${tree.files} files, ${tree.dirs} dirs, ${tree.symlinks} symlinks`],
        ['restore wall time (startRestore -> SUCCEEDED seen)', `${round(wallMs / 1000, 2)} s`],
        ['restore MB/s', round(rate)],
        ['agent-reported job duration / MB/s', `${round(agentMs / 1000, 2)} s / ${round(data.agentReportedMBps)}`],
        ['CPU s per GiB restored: agent / controller', `${round(agentCpuMs / 1000 / (tree.bytes / 2 ** 30), 2)} / ${round(controllerCpuMs / 1000 / (tree.bytes / 2 ** 30), 2)}`],
        ['CPU busy during the restore: agent / controller (share of one core)', `${round((100 * agentCpuMs) / wallMs)}% / ${round((100 * controllerCpuMs) / wallMs)}%`],
        ['entries / bytes written (job result)', result === undefined ? 'n/a' : `${result.files} / ${mib(Number(result.bytes))}`],
        ['verified equal (treeDigest: content, modes, mtimes, symlinks)', `yes (${round(verifyMs / 1000, 1)} s to check)`],
        ['initial sync of the same tree (for scale)', `${round(syncMs / 1000, 1)} s (${round(data.initialSyncMBps)} MB/s)`],
      ],
      notes: [
        'the controller reads packs it wrote moments before (page cache); the agent writes temp files, fsyncs and renames each',
        'MB = 10^6 bytes; rate over the logical bytes of the tree',
      ],
      extra:
        ctx.profileDir === undefined
          ? []
          : [
              await packageTable('Where the CPU goes during the restore (main thread, sampled)', [
                { name: 'agent', path: profiles[0] },
                { name: 'controller', path: profiles[1] },
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

export const restoreBench: BenchSection = {
  name: 'restore',
  description: 'restore MB/s through the agent restore job, verified by tree digest',
  run,
};
