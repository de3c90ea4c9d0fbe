import { EventEmitter } from 'node:events';
import type { ServerHttp2Session } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import type { DescFile, DescService } from '@bufbuild/protobuf';
import { HavenError } from '@haven/core';
import { HealthCheckResponse_ServingStatus, addReflection, addService, createHealthService, messageSizeOptions } from '@haven/proto';
import type { HealthService, ServiceImpl } from '@haven/proto';
import { havenStatusCodec } from './haven-status-codec.js';

export interface HavenServer {
  readonly grpc: grpc.Server;
  readonly health: HealthService;
  /** The bound address, `host:port` (the real port when listening on port 0). */
  readonly address: string;
  readonly port: number;
  /** Stops accepting calls; gives running calls `graceMs` then cancels them. */
  close(graceMs?: number): Promise<void>;
}

export interface ServiceRegistration<S extends DescService = DescService> {
  service: S;
  impl: Partial<ServiceImpl<S>>;
}

/** Type-checks one registration while letting a list hold several services. */
export function service<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): ServiceRegistration {
  return { service, impl } as unknown as ServiceRegistration;
}

/**
 * HTTP/2 receive windows of a Haven server: how far a client may send ahead of what the
 * server has read. Node's default is 64 KiB for each stream and for the whole connection, so
 * an agent uploading chunks stalls whenever the controller spends a few milliseconds
 * verifying one (its event loop reads nothing meanwhile) and the two processes take turns
 * instead of working at once. On the ingest bench (1 GiB over loopback) 4 MiB per stream and
 * 16 MiB per connection raised throughput by a third over the defaults. Not more: with
 * 16 MiB per stream, a client uploading when the controller was killed (kill -9 under load,
 * tools/src/e2e/controller-crash.test.ts) sometimes did not see its call fail for more than
 * 20 s. Memory stays bounded: grpc-js stops reading a stream whose handler is behind, so
 * each stream holds at most its window, and the connection window bounds bytes in transit.
 */
export const SERVER_STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
export const SERVER_CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;

/**
 * grpc-js 1.14 has no server option for the receive windows (grpc/grpc-node#3058 proposes
 * 'grpc-node.flow_control_window' for servers too; it is passed as well, for when it lands),
 * so every HTTP/2 session the server accepts gets them here, through grpc-js's private map
 * of its HTTP/2 servers. Should that map change, sessions keep Node's defaults: slower, not
 * broken (haven-server.test.ts checks the windows a client sees).
 */
function raiseReceiveWindows(server: grpc.Server): void {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) return;
  for (const http2Server of servers.keys()) {
    if (!(http2Server instanceof EventEmitter)) continue;
    http2Server.on('session', (session: ServerHttp2Session) => {
      try {
        session.settings({ initialWindowSize: SERVER_STREAM_WINDOW_BYTES });
        session.setLocalWindowSize(SERVER_CONNECTION_WINDOW_BYTES);
      } catch {
        // A session closed before its settings went out needs no window.
      }
    });
  }
}

/**
 * Every Haven server: the given services with Haven's error table, grpc.health.v1 and
 * server reflection (so grpcurl can list and call them), shared message size limits, and
 * receive windows sized for chunk uploads (SERVER_STREAM_WINDOW_BYTES).
 */
export async function startHavenServer(options: {
  listen: string;
  credentials: grpc.ServerCredentials;
  services: ServiceRegistration[];
  reflectionFiles: DescFile[];
}): Promise<HavenServer> {
  const server = new grpc.Server({
    ...messageSizeOptions(),
    'grpc.keepalive_time_ms': 20_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
    'grpc-node.flow_control_window': SERVER_STREAM_WINDOW_BYTES,
  });
  const health = createHealthService();
  for (const reg of options.services) {
    addService(server, reg.service, reg.impl, { codec: havenStatusCodec });
    health.setStatus(reg.service.typeName, HealthCheckResponse_ServingStatus.SERVING);
  }
  health.addTo(server);
  addReflection(server, options.reflectionFiles);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.listen, options.credentials, (err, p) => {
      if (err !== null) reject(new HavenError('UNAVAILABLE', `cannot listen on ${options.listen}: ${err.message}`, { cause: err }));
      else resolve(p);
    });
  });
  raiseReceiveWindows(server);
  const host = options.listen.slice(0, options.listen.lastIndexOf(':'));
  return {
    grpc: server,
    health,
    address: `${host}:${port}`,
    port,
    close: (graceMs = 2_000) =>
      new Promise<void>((resolve) => {
        health.shutdown();
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
