import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Server } from '@grpc/grpc-js';

import { addService } from './add-service.js';
import type { AddServiceOptions, ServiceImpl } from './add-service.js';
import { Health, HealthCheckResponse_ServingStatus } from './gen/grpc/health/v1/health_pb.js';
import { RpcError } from './status-codec.js';
import { abortable } from './stream-io.js';

/** grpc.health.v1 List answers at most this many services (per the protocol). */
const MAX_LISTED_SERVICES = 100;

/**
 * The standard grpc.health.v1.Health service with a settable status per service
 * name; "" is the server as a whole. Check answers NOT_FOUND for an unknown name;
 * Watch sends the current status (SERVICE_UNKNOWN for an unknown name) and then every
 * change. A slow watcher only ever receives the latest status, never a backlog.
 */
export interface HealthService {
  /** Sets the status of `service` ("" = the whole server) and notifies watchers. Ignored after `shutdown()`. */
  setStatus(service: string, status: HealthCheckResponse_ServingStatus): void;
  getStatus(service: string): HealthCheckResponse_ServingStatus | undefined;
  /** Forgets `service`: Check answers NOT_FOUND, watchers see SERVICE_UNKNOWN. */
  clearStatus(service: string): void;
  /** Marks every service NOT_SERVING and ignores later updates until `resume()` (graceful shutdown). */
  shutdown(): void;
  /** Marks every service SERVING again and accepts updates. */
  resume(): void;
  /** The handlers, for `addService(server, Health, health.impl)`. */
  readonly impl: ServiceImpl<typeof Health>;
  /** Registers the service on `server`. */
  addTo(server: Server, options?: AddServiceOptions): void;
}

export function createHealthService(
  initial: Readonly<Record<string, HealthCheckResponse_ServingStatus>> = { '': HealthCheckResponse_ServingStatus.SERVING },
): HealthService {
  const statuses = new Map<string, HealthCheckResponse_ServingStatus>(Object.entries(initial));
  let shuttingDown = false;
  // Watchers wait on `changed`; every update bumps `version` and replaces it.
  let version = 0;
  let notify: () => void = () => undefined;
  let changed = new Promise<void>((resolve) => (notify = resolve));

  function bump(): void {
    version += 1;
    const wake = notify;
    changed = new Promise<void>((resolve) => (notify = resolve));
    wake();
  }

  function put(service: string, status: HealthCheckResponse_ServingStatus): void {
    if (statuses.get(service) === status) return;
    statuses.set(service, status);
    bump();
  }

  const impl: ServiceImpl<typeof Health> = {
    async check(request) {
      const status = statuses.get(request.service);
      if (status === undefined) throw new RpcError(GrpcStatus.NOT_FOUND, `unknown service ${JSON.stringify(request.service)}`);
      return { status };
    },
    async list() {
      if (statuses.size > MAX_LISTED_SERVICES) {
        throw new RpcError(GrpcStatus.RESOURCE_EXHAUSTED, `more than ${MAX_LISTED_SERVICES} services`);
      }
      const entries: Record<string, { status: HealthCheckResponse_ServingStatus }> = {};
      for (const [name, status] of statuses) entries[name] = { status };
      return { statuses: entries };
    },
    async *watch(request, ctx) {
      let sent: HealthCheckResponse_ServingStatus | undefined;
      let seen = -1;
      for (;;) {
        if (seen === version) await abortable(changed, ctx.signal);
        seen = version;
        const status = statuses.get(request.service) ?? HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN;
        if (status !== sent) {
          sent = status;
          yield { status };
        }
      }
    },
  };

  return {
    setStatus(service, status) {
      if (!shuttingDown) put(service, status);
    },
    getStatus(service) {
      return statuses.get(service);
    },
    clearStatus(service) {
      if (statuses.delete(service)) bump();
    },
    shutdown() {
      shuttingDown = true;
      for (const name of statuses.keys()) put(name, HealthCheckResponse_ServingStatus.NOT_SERVING);
    },
    resume() {
      shuttingDown = false;
      for (const name of statuses.keys()) put(name, HealthCheckResponse_ServingStatus.SERVING);
    },
    impl,
    addTo(server, options) {
      addService(server, Health, impl, options);
    },
  };
}
