import { mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { removeTempDirs, repoRoot } from '@haven/testing';
import { agentLagBench } from './agent-lag-bench.js';
import { agentScaleBench } from './agent-scale-bench.js';
import { BENCH_USAGE, parseBenchArgs } from './bench-args.js';
import { formatSection, newReport, writeReport } from './bench-report.js';
import type { BenchSection } from './bench-section.js';
import { chunkerBench } from './chunker-bench.js';
import { hashBench } from './hash-bench.js';
import { ingestBench } from './ingest-bench.js';
import { restoreBench } from './restore-bench.js';
import { zstdBench } from './zstd-bench.js';

/** Every section, in the order a full run takes them (cheap micro-benchmarks first). */
const SECTIONS: readonly BenchSection[] = [chunkerBench, hashBench, zstdBench, ingestBench, agentLagBench, agentScaleBench, restoreBench];

/**
 * `npm run bench`: measures, prints a table per section and writes a JSON report. Numbers
 * are reported, never asserted: CI machines differ too much for thresholds to mean anything.
 */
async function main(): Promise<number> {
  const args = parseBenchArgs(process.argv.slice(2), SECTIONS.map((s) => s.name));
  if (args.help) {
    const width = Math.max(...SECTIONS.map((s) => s.name.length));
    process.stdout.write(`${BENCH_USAGE}\n\nsections:\n${SECTIONS.map((s) => `  ${s.name.padEnd(width)}  ${s.description}`).join('\n')}\n`);
    return 0;
  }
  const profileDir = args.profileDir === undefined ? undefined : resolve(args.profileDir);
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  const report = newReport(new Date(), args.quick, repoRoot);
  const [load1] = loadavg();
  if (load1 !== undefined && load1 > cpus().length / 2) {
    process.stderr.write(`bench: warning: load average ${load1.toFixed(1)} on ${cpus().length} CPUs; other work will skew the numbers\n`);
  }
  const chosen = SECTIONS.filter((s) => args.only.length === 0 || args.only.includes(s.name));
  const log = (line: string): void => {
    process.stderr.write(`bench: ${line}\n`);
  };
  for (const section of chosen) {
    try {
      const result = await section.run({ quick: args.quick, log, ...(profileDir === undefined ? {} : { profileDir }) });
      report.sections[section.name] = result.data;
      process.stdout.write(`\n${formatSection(result)}\n`);
    } catch (err) {
      const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
      report.failures[section.name] = message;
      process.stderr.write(`bench: section ${section.name} failed: ${message}\n`);
    } finally {
      removeTempDirs();
    }
  }
  const path = await writeReport(report, resolve(repoRoot, args.outDir));
  process.stdout.write(`\nreport: ${path}\n`);
  return Object.keys(report.failures).length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
