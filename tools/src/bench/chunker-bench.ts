import { FASTCDC_DEFAULTS, createFastCdc } from '@haven/core';
import { fillRandom } from './corpus-bytes.js';
import type { BenchSection } from './bench-section.js';
import { mib, round, throughput, verdict } from './measure.js';

const MiB = 1024 * 1024;
/** The agent reads files in 1 MiB pieces; the chunker must sustain this to keep up with disks. */
export const CHUNKER_TARGET_MBPS = 800;

/** FastCDC (default params) over random data pushed in 1 MiB pieces, as the agent feeds it. */
export const chunkerBench: BenchSection = {
  name: 'chunker',
  description: 'FastCDC MB/s, default params, random data in 1 MiB pushes',
  async run(ctx) {
    const bytes = (ctx.quick ? 32 : 256) * MiB;
    const runs = ctx.quick ? 2 : 3;
    const data = Buffer.allocUnsafe(bytes);
    fillRandom(data, 'bench/chunker');
    const pieces: Buffer[] = [];
    for (let o = 0; o < bytes; o += MiB) pieces.push(data.subarray(o, o + MiB));
    let chunks = 0;
    ctx.log(`chunker: ${mib(bytes)} x ${runs} runs`);
    const t = await throughput(bytes, runs, () => {
      const cdc = createFastCdc();
      chunks = 0;
      for (const p of pieces) chunks += cdc.push(p).length;
      chunks += cdc.finish().length;
    });
    const avgChunk = bytes / chunks;
    return {
      title: 'FastCDC chunker',
      headers: ['data', 'runs', 'chunks', 'avg chunk', 'median MB/s', 'best MB/s', 'target MB/s', ''],
      rows: [[mib(bytes), runs, chunks, mib(avgChunk), round(t.medianMBps), round(t.bestMBps), `>= ${CHUNKER_TARGET_MBPS}`, verdict(t.medianMBps, CHUNKER_TARGET_MBPS)]],
      data: { bytes, params: { ...FASTCDC_DEFAULTS }, pushBytes: MiB, chunks, avgChunkBytes: Math.round(avgChunk), ...t, targetMBps: CHUNKER_TARGET_MBPS },
    };
  },
};
