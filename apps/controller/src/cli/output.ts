import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { toJson } from '@bufbuild/protobuf';
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import { renderTable } from './render-table.js';

/**
 * Writes and waits while the stream's buffer is full, so large outputs (listings, `cat`)
 * follow the reader's pace instead of piling up in memory.
 */
export async function write(stream: Writable, data: string | Uint8Array): Promise<void> {
  if (!stream.write(data)) await once(stream, 'drain');
}

/** Canonical protobuf JSON (lowerCamelCase, every field present), as the Admin API defines it. */
export function jsonOf<D extends DescMessage>(schema: D, message: MessageShape<D>): ReturnType<typeof toJson> {
  return toJson(schema, message, { alwaysEmitImplicit: true });
}

/** One response as one indented JSON document. */
export function printJson<D extends DescMessage>(stream: Writable, schema: D, message: MessageShape<D>): Promise<void> {
  return write(stream, `${JSON.stringify(jsonOf(schema, message), null, 2)}\n`);
}

/** One message of a stream as one line (JSON Lines). */
export function printJsonLine<D extends DescMessage>(stream: Writable, schema: D, message: MessageShape<D>): Promise<void> {
  return write(stream, `${JSON.stringify(jsonOf(schema, message))}\n`);
}

export function printTable(
  stream: Writable,
  headers: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | number | bigint | boolean>>,
): Promise<void> {
  return write(stream, `${renderTable(headers, rows)}\n`);
}

export function printLines(stream: Writable, ...lines: string[]): Promise<void> {
  return write(stream, lines.map((l) => `${l}\n`).join(''));
}
