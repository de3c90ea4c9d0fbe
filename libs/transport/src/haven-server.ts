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
 * Every Haven server: the given services with Haven's error table, grpc.health.v1 and
 * server reflection (so grpcurl can list and call them), shared message size limits.
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
