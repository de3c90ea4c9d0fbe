import { Compressor, Decompressor } from 'zstd-napi';
import type { BenchSection } from './bench-section.js';
import { createCorpus } from './corpus.js';
import { mib, round, throughput } from './measure.js';

const MiB = 1024 * 1024;
const LEVELS = [1, 3] as const;

interface Mix {
  readonly name: string;
  readonly compressible: number;
}

/** The mixed corpus is the headline; pure text and pure random bound it on either side. */
const MIXES: readonly Mix[] = [
  { name: 'mixed', compressible: 0.5 },
  { name: 'text', compressible: 1 },
  { name: 'random', compressible: 0 },
];

/**
 * zstd (zstd-napi, reused contexts as agent and controller use them) compressing and
 * decompressing 1 MiB chunks, one frame per chunk. Compress MB/s counts input bytes,
 * decompress MB/s output bytes, so both are plaintext rates; ratio = plaintext / frames.
 */
export const zstdBench: BenchSection = {
  name: 'zstd',
  description: 'zstd MB/s compress/decompress at levels 1 and 3 on 1 MiB chunks of a mixed corpus',
  async run(ctx) {
    const bytes = (ctx.quick ? 16 : 64) * MiB;
    const runs = ctx.quick ? 2 : 3;
    const rows: (string | number)[][] = [];
    const results: Record<string, unknown>[] = [];
    for (const mix of MIXES) {
      const corpus = createCorpus({
        seed: `bench/zstd/${mix.name}`,
        files: 1,
        minFileBytes: bytes,
        maxFileBytes: bytes,
        compressibleFraction: mix.compressible,
        // A fine grain, so most 1 MiB chunks hold both kinds and the mix is close to its share.
        segmentBytes: 64 * 1024,
      });
      const data = corpus.fileBytes(0);
      const chunks: Buffer[] = [];
      for (let o = 0; o < bytes; o += MiB) chunks.push(data.subarray(o, o + MiB));
      for (const level of LEVELS) {
        ctx.log(`zstd: ${mix.name} level ${level}, ${mib(bytes)} x ${runs} runs`);
        const compressor = new Compressor();
        compressor.setParameters({ compressionLevel: level });
        const decompressor = new Decompressor();
        let frames: Buffer[] = [];
        const c = await throughput(bytes, runs, () => {
          frames = chunks.map((ch) => compressor.compress(ch));
        });
        const d = await throughput(bytes, runs, () => {
          for (const f of frames) decompressor.decompress(f);
        });
        const compressed = frames.reduce((a, f) => a + f.length, 0);
        const ratio = bytes / compressed;
        const textShare = corpus.textBytes / corpus.totalBytes;
        rows.push([mix.name, `${Math.round(textShare * 100)}%`, level, round(c.medianMBps), round(d.medianMBps), round(ratio, 2)]);
        results.push({ corpus: mix.name, textShare, level, bytes, chunkBytes: MiB, compressedBytes: compressed, ratio, compress: c, decompress: d });
      }
    }
    return {
      title: 'zstd (1 MiB chunks)',
      headers: ['corpus', 'text', 'level', 'compress MB/s', 'decompress MB/s', 'ratio'],
      rows,
      notes: ['median of runs; "text" is the share of text-like bytes, the rest is random'],
      data: { results },
    };
  },
};
