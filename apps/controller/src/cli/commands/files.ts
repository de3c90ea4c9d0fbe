import { HavenError, normalizeRelPath } from '@haven/core';
import { AdminServiceListFilesResponseSchema, EntryType, ReadFileResponseSchema } from '@haven/proto';
import type { FileEntry } from '@haven/proto';
import { defineCommand } from '../command.js';
import { formatMode, formatPoint, formatTime } from '../format.js';
import { printJsonLine, printLines, write } from '../output.js';
import { pointSelectorOf } from '../point-selector.js';
import { formatBytes } from '../render-table.js';

const AT_OPTION = {
  at: { type: 'string', value: 'POINT', description: 'recovery point: seq number, RFC 3339 time, or latest (default)' },
  branch: { type: 'string', value: 'ID', description: 'resolve POINT on this divergent branch (see point list --divergent)' },
} as const;

export { AT_OPTION };

/** One `ls -l` style line; fixed widths so a listing can stream batch by batch. */
function entryLine(e: FileEntry): string {
  const size = e.type === EntryType.FILE || e.type === EntryType.BLOCK_DEVICE ? formatBytes(e.size) : '-';
  const name = e.path !== '' ? e.path : e.type === EntryType.BLOCK_DEVICE ? '(device)' : '.';
  const suffix = e.type === EntryType.DIR ? '/' : e.type === EntryType.SYMLINK ? ` -> ${e.symlinkTarget}` : '';
  return `${formatMode(e.type, e.mode)}  ${size.padStart(9)}  ${formatTime(e.mtime).padEnd(20)}  ${name}${suffix}\n`;
}

export const lsCommand = defineCommand({
  path: ['ls'],
  summary: 'list entries of a set at a point',
  usage: 'SET [--at POINT] [PATH] [--recursive]',
  details: 'PATH is relative to the set root (default: the root). With --json, one AdminServiceListFilesResponse per line (JSON Lines).',
  args: [{ name: 'SET' }, { name: 'PATH', optional: true }],
  options: {
    ...AT_OPTION,
    recursive: { type: 'boolean', short: 'r', description: 'list the whole subtree' },
  },
  async run(ctx, [set, path], opts) {
    const point = pointSelectorOf(opts.at, opts.branch);
    const request = { set: set ?? '', path: normalizeRelPath(path ?? ''), recursive: opts.recursive === true, ...(point === undefined ? {} : { point }) };
    const stream = ctx.admin().listFiles(request);
    for await (const res of stream) {
      if (ctx.json) {
        await printJsonLine(ctx.io.stdout, AdminServiceListFilesResponseSchema, res);
        continue;
      }
      if (res.point !== undefined) await printLines(ctx.io.stdout, `point ${formatPoint(res.point)}`);
      if (res.entries.length > 0) await write(ctx.io.stdout, res.entries.map(entryLine).join(''));
    }
    return 0;
  },
});

export const catCommand = defineCommand({
  path: ['cat'],
  summary: 'write the content of a file (or a block set\'s device) at a point to stdout',
  usage: 'SET FILE [--at POINT]',
  details: 'Raw bytes, binary-safe; for a block set use "" as FILE. With --json, one ReadFileResponse per line.',
  args: [{ name: 'SET' }, { name: 'FILE' }],
  options: { ...AT_OPTION },
  async run(ctx, [set, file], opts) {
    const point = pointSelectorOf(opts.at, opts.branch);
    const request = { set: set ?? '', path: normalizeRelPath(file ?? ''), ...(point === undefined ? {} : { point }) };
    const stream = ctx.admin().readFile(request);
    let expected = 0n;
    let size: bigint | undefined;
    for await (const res of stream) {
      if (res.entry !== undefined) size = res.entry.size;
      if (res.offset !== expected) throw new HavenError('CORRUPT', `content arrived out of order: offset ${res.offset}, expected ${expected}`);
      expected += BigInt(res.data.length);
      if (ctx.json) await printJsonLine(ctx.io.stdout, ReadFileResponseSchema, res);
      else if (res.data.length > 0) await write(ctx.io.stdout, res.data);
    }
    if (size !== undefined && expected !== size) throw new HavenError('CORRUPT', `content ended after ${expected} of ${size} bytes`);
    return 0;
  },
});
