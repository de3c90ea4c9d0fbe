import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createClient, createConnection } from './create-client.js';
import type { Client } from './create-client.js';
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from './gen/grpc/health/v1/health_pb.js';
import { createHealthService } from './health.js';
import type { HealthService } from './health.js';
import { startServer } from './test-support/bridge-test-server.js';
import type { RunningServer } from './test-support/bridge-test-server.js';

describe('grpc.health.v1.Health', () => {
  let health: HealthService;
  let running: RunningServer;
  let connection: grpc.Client;
  let client: Client<typeof Health>;

  beforeAll(async () => {
    health = createHealthService();
    running = await startServer((server) => health.addTo(server));
    connection = createConnection(running.address, grpc.credentials.createInsecure());
    client = createClient(Health, connection);
  });

  afterAll(async () => {
    connection.close();
    await running.close();
  });

  it('reports the overall status under the empty service name', async () => {
    expect((await client.check({ service: '' })).status).toBe(ServingStatus.SERVING);
  });

  it('answers NOT_FOUND for an unknown service and the set status for a known one', async () => {
    await expect(client.check({ service: 'haven.v1.AgentService' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    health.setStatus('haven.v1.AgentService', ServingStatus.NOT_SERVING);
    expect((await client.check({ service: 'haven.v1.AgentService' })).status).toBe(ServingStatus.NOT_SERVING);
    const list = await client.list({});
    expect(list.statuses['haven.v1.AgentService']?.status).toBe(ServingStatus.NOT_SERVING);
    expect(list.statuses['']?.status).toBe(ServingStatus.SERVING);
    health.clearStatus('haven.v1.AgentService');
    await expect(client.check({ service: 'haven.v1.AgentService' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it('watch sends the current status, then each change', async () => {
    const controller = new AbortController();
    const seen: ServingStatus[] = [];
    const watching = (async () => {
      for await (const update of client.watch({ service: 'svc' }, { signal: controller.signal })) {
        seen.push(update.status);
        if (seen.length === 1) health.setStatus('svc', ServingStatus.SERVING);
        if (seen.length === 2) health.setStatus('svc', ServingStatus.NOT_SERVING);
        if (seen.length === 3) controller.abort();
      }
    })();
    await expect(watching).rejects.toMatchObject({ code: grpc.status.CANCELLED });
    expect(seen).toEqual([ServingStatus.SERVICE_UNKNOWN, ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
  });

  it('shutdown marks everything NOT_SERVING and holds later updates until resume', async () => {
    health.setStatus('a', ServingStatus.SERVING);
    health.shutdown();
    health.setStatus('a', ServingStatus.SERVING);
    expect((await client.check({ service: 'a' })).status).toBe(ServingStatus.NOT_SERVING);
    expect((await client.check({ service: '' })).status).toBe(ServingStatus.NOT_SERVING);
    health.resume();
    expect((await client.check({ service: 'a' })).status).toBe(ServingStatus.SERVING);
  });
});
