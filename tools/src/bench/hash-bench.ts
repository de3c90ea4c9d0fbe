import { chunkIdOf } from '@haven/core';
import { fillRandom } from './corpus-bytes.js';
import type { BenchSection } from './bench-section.js';
import { mib, round, throughput } from './measure.js';

const MiB = 1024 * 1024;

/** BLAKE3 chunk ids (`chunkIdOf`, hex included) over 1 MiB chunks. */
export const hashBench: BenchSection = {
  name: 'blake3',
  description: 'BLAKE3 MB/s: chunkIdOf over 1 MiB chunks',
  async run(ctx) {
    const bytes = (ctx.quick ? 32 : 256) * MiB;
    const runs = ctx.quick ? 2 : 3;
    const data = Buffer.allocUnsafe(bytes);
    fillRandom(data, 'bench/blake3');
    const chunks: Buffer[] = [];
    for (let o = 0; o < bytes; o += MiB) chunks.push(data.subarray(o, o + MiB));
    ctx.log(`blake3: ${mib(bytes)} x ${runs} runs`);
    const t = await throughput(bytes, runs, () => {
      for (const c of chunks) chunkIdOf(c);
    });
    return {
      title: 'BLAKE3 chunk ids',
      headers: ['data', 'chunk', 'runs', 'median MB/s', 'best MB/s'],
      rows: [[mib(bytes), '1 MiB', runs, round(t.medianMBps), round(t.bestMBps)]],
      data: { bytes, chunkBytes: MiB, ...t },
    };
  },
};
