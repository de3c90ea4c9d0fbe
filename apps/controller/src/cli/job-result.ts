import { HavenError, isErrorCode } from '@haven/core';
import { JobKindSchema, JobState, JobStateSchema } from '@haven/proto';
import type { Job } from '@haven/proto';
import { enumLabel, formatAgo, formatMeasured, formatPercent, formatTime } from './format.js';
import { formatBytes } from './render-table.js';

export function jobKindLabel(job: Job): string {
  return enumLabel(JobKindSchema, job.kind).toLowerCase();
}

export function isTerminal(job: Job): boolean {
  return job.state === JobState.SUCCEEDED || job.state === JobState.FAILED || job.state === JobState.CANCELLED;
}

/** One status line: `restore 7f3c2a1b RUNNING 42% 1234/5000 files 1.2 GiB/3.4 GiB materializing`. */
export function jobProgressText(job: Job): string {
  const p = job.progress;
  const parts = [jobKindLabel(job), job.id, enumLabel(JobStateSchema, job.state)];
  const terminal = isTerminal(job);
  if (p !== undefined && job.state !== JobState.PENDING) {
    if (!terminal) parts.push(formatPercent(p.fraction));
    if (p.doneUnits > 0n || p.totalUnits > 0n) parts.push(`${p.doneUnits}${p.totalUnits > 0n ? `/${p.totalUnits}` : ''} ${p.unit}`.trim());
    if (p.doneBytes > 0n || p.totalBytes > 0n) parts.push(`${formatBytes(p.doneBytes)}${p.totalBytes > 0n ? `/${formatBytes(p.totalBytes)}` : ''}`);
    if (p.phase !== '' && !terminal) parts.push(p.phase);
  }
  return parts.join(' ');
}

/** Throws the job's own error (its code, one line) unless it succeeded. */
export function assertJobSucceeded(job: Job): void {
  if (job.state === JobState.SUCCEEDED) return;
  const what = `${jobKindLabel(job)} job ${job.id}`;
  if (job.state === JobState.CANCELLED) throw new HavenError('CANCELLED', `${what} was cancelled`);
  const code = isErrorCode(job.error?.code) ? job.error.code : 'INTERNAL';
  const message = job.error?.message ?? 'no reason given';
  throw new HavenError(code, `${what} failed: ${message}`, { details: { ...(job.error?.details ?? {}), jobId: job.id } });
}

/** Human summary of a finished job's result, one line per fact. */
export function describeJobResult(job: Job): string[] {
  const r = job.result?.result;
  switch (r?.case) {
    case 'restore':
    case 'materialize': {
      const v = r.value;
      return [
        `restored seq ${v.seq}${v.branch === '' ? '' : ` (branch ${v.branch})`}: ${v.files} entries, ${formatBytes(v.bytes)} in ${formatMeasured(v.duration)}`,
        `fetched ${formatBytes(v.fetchedBytes)}, reused ${formatBytes(v.reusedBytes)}, skipped ${v.skipped}, removed ${v.removed}`,
      ];
    }
    case 'drill': {
      const v = r.value;
      return [
        `drill of seq ${v.seq} on ${v.host}:${v.target}: RTO ${formatMeasured(v.rto)}`,
        `verified ${v.verifiedFiles} files, ${formatBytes(v.verifiedBytes)}; ${v.cleanedUp ? 'cleaned up' : 'target left in place'}`,
      ];
    }
    case 'failover': {
      const v = r.value;
      return [
        `failed over to ${v.site}/${v.host} at seq ${v.seq}, epoch ${v.epoch}: RTO ${formatMeasured(v.rto)}`,
        v.planned ? 'planned: the old home was fenced first, no data lost' : 'unplanned: later writes of the old home become a divergent branch',
      ];
    }
    case 'failback': {
      const v = r.value;
      return [
        `failed back to ${v.site}/${v.host} at seq ${v.seq}, epoch ${v.epoch} in ${formatMeasured(v.duration)}`,
        `fetched ${formatBytes(v.fetchedBytes)}, reused ${formatBytes(v.reusedBytes)}`,
      ];
    }
    case 'migrate': {
      const v = r.value;
      return [
        `migrated to ${v.host}:${v.target} at seq ${v.seq}, epoch ${v.epoch}: downtime ${formatMeasured(v.downtime)}`,
        `${v.rounds} delta rounds, ${formatBytes(v.transferredBytes)} transferred`,
      ];
    }
    case 'resync':
      return [`resynced to ${r.value.site}: ${r.value.entries} entries, ${r.value.chunks} chunks, ${formatBytes(r.value.bytes)}`];
    case 'checkpoint':
      return [`checkpoint seq ${r.value.seq} label ${JSON.stringify(r.value.label)}`];
    case 'rescan': {
      const v = r.value;
      return [`scanned ${v.scannedFiles} entries (${formatBytes(v.scannedBytes)}), ${v.changedFiles} changed${v.seq > 0n ? `, committed seq ${v.seq}` : ''}`];
    }
    case 'gc': {
      const v = r.value;
      return [
        `marked ${v.chunksMarked} live chunks, swept ${v.chunksSwept}, freed ${formatBytes(v.bytesFreed)} in ${formatMeasured(v.duration)}`,
        `packs rewritten ${v.packsRewritten}, deleted ${v.packsDeleted}`,
      ];
    }
    case 'verify': {
      const v = r.value;
      return [`checked ${v.chunksChecked} chunks (${formatBytes(v.bytesChecked)}, ${v.samplePercent}% sample): ${v.damagedChunks} damaged`];
    }
    case 'prune': {
      const v = r.value;
      return v.sets.map((s) => `${s.set}: kept ${s.pointsKept} points, dropped ${s.pointsDropped}${v.dryRun ? ' (dry run)' : ''}`);
    }
    default:
      return [];
  }
}

/** `haven job show`: the job's fields, then its error or result. */
export function jobFields(job: Job, nowMs: number): Array<[string, string]> {
  const fields: Array<[string, string]> = [
    ['id', job.id],
    ['kind', jobKindLabel(job)],
    ['state', enumLabel(JobStateSchema, job.state)],
    ['set', job.set === '' ? '-' : job.set],
    ['host', job.host === '' ? '-' : job.host],
    ['description', job.description],
    ['actor', job.actor],
    ['progress', jobProgressText(job)],
    ['created', `${formatTime(job.createdAt)} (${formatAgo(job.createdAt, nowMs)})`],
    ['started', formatTime(job.startedAt)],
    ['finished', formatTime(job.finishedAt)],
  ];
  if (job.parentId !== '') fields.push(['parent', job.parentId]);
  if (job.error !== undefined) fields.push(['error', `${job.error.code}: ${job.error.message}`]);
  for (const line of describeJobResult(job)) fields.push(['result', line]);
  return fields;
}
