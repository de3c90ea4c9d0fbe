import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { HavenError } from '@haven/core';

/** The controller's Prometheus metrics; one registry per controller (tests run several). */
export interface ControllerMetrics {
  readonly registry: Registry;
  readonly ingestChunks: Counter<'set'>;
  /** Chunk bytes received on the wire (compressed form), after verification. */
  readonly ingestWireBytes: Counter<'set'>;
  readonly ingestRawBytes: Counter<'set'>;
  readonly ingestRejected: Counter<'code'>;
  readonly commits: Counter<'set'>;
  readonly commitSeconds: Histogram<'set'>;
  readonly setLagSeconds: Gauge<'set'>;
  readonly setBacklogBytes: Gauge<'set'>;
}

export function createControllerMetrics(): ControllerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'haven_controller_' });
  const registers = [registry];
  return {
    registry,
    ingestChunks: new Counter({ name: 'haven_ingest_chunks_total', help: 'Chunks received, verified and stored or deduplicated', labelNames: ['set'], registers }),
    ingestWireBytes: new Counter({ name: 'haven_ingest_wire_bytes_total', help: 'Chunk bytes received on the wire', labelNames: ['set'], registers }),
    ingestRawBytes: new Counter({ name: 'haven_ingest_raw_bytes_total', help: 'Plaintext bytes of chunks received', labelNames: ['set'], registers }),
    ingestRejected: new Counter({ name: 'haven_ingest_rejected_total', help: 'Chunks refused (hash mismatch, oversize)', labelNames: ['code'], registers }),
    commits: new Counter({ name: 'haven_commits_total', help: 'Journal entries committed', labelNames: ['set'], registers }),
    commitSeconds: new Histogram({
      name: 'haven_commit_duration_seconds',
      help: 'Commit latency at the controller: chunk checks, fsync, catalog transaction',
      labelNames: ['set'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    setLagSeconds: new Gauge({ name: 'haven_set_lag_seconds', help: 'Age of the oldest uncommitted change, as the agent reports it', labelNames: ['set'], registers }),
    setBacklogBytes: new Gauge({ name: 'haven_set_backlog_bytes', help: 'Bytes waiting at the agent', labelNames: ['set'], registers }),
  };
}

/** Serves `GET /metrics` in the Prometheus text format. */
export async function serveMetrics(metrics: ControllerMetrics, listen: string): Promise<{ address: string; close(): Promise<void> }> {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(at + 1));
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new HavenError('UNAVAILABLE', `cannot serve metrics on ${listen}: ${err.message}`, { cause: err })));
    server.listen(port, host, resolve);
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr !== null ? addr.port : port;
  return {
    address: `${listen.slice(0, at)}:${bound}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
