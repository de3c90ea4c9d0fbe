import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { BenchTable, SectionResult } from './bench-section.js';

/** A section's tables, aligned plain text: numbers right-aligned, text left-aligned. */
export function formatSection(result: SectionResult): string {
  return [result, ...(result.extra ?? [])].map(formatTable).join('\n\n');
}

function formatTable(result: BenchTable): string {
  const cells = result.rows.map((r) => r.map((c) => String(c)));
  const widths = result.headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const numeric = result.headers.map((_, i) => result.rows.every((r) => typeof r[i] === 'number'));
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => (numeric[i] === true ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [`== ${result.title}`, line(result.headers), rule, ...cells.map(line), ...(result.notes ?? []).map((n) => `   ${n}`)].join('\n');
}

function gitDescribe(cwd: string): { commit: string; dirty: boolean } | undefined {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return { commit, dirty: status.trim() !== '' };
  } catch {
    return undefined;
  }
}

export interface BenchReport {
  readonly version: 1;
  readonly startedAt: string;
  readonly quick: boolean;
  readonly environment: Record<string, unknown>;
  readonly sections: Record<string, SectionResult['data']>;
  readonly failures: Record<string, string>;
}

export function newReport(startedAt: Date, quick: boolean, repoRoot: string): BenchReport {
  const cpu = cpus();
  return {
    version: 1,
    startedAt: startedAt.toISOString(),
    quick,
    environment: {
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      cpuModel: cpu[0]?.model ?? 'unknown',
      cpus: cpu.length,
      totalMemBytes: totalmem(),
      // Other work on the machine skews every number here: the load is recorded to judge a run.
      loadAvgAtStart: loadavg(),
      git: gitDescribe(repoRoot),
    },
    sections: {},
    failures: {},
  };
}

/** Writes `bench-<timestamp>.json` and `latest.json` under `dir`; returns the first path. */
export async function writeReport(report: BenchReport, dir: string): Promise<string> {
  report.environment['loadAvgAtEnd'] = loadavg();
  await mkdir(dir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const path = join(dir, `bench-${stamp}.json`);
  const json = `${JSON.stringify(report, null, 2)}\n`;
  await writeFile(path, json);
  await writeFile(join(dir, 'latest.json'), json);
  return path;
}
