import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Health, HealthCheckResponse_ServingStatus, reflectionV1 } from '@haven/proto';
import { bins, removeTempDirs, runNode, startControllerProcess } from '@haven/testing';
import type { ControllerProcess } from '@haven/testing';

let ctl: ControllerProcess;

beforeAll(async () => {
  ctl = await startControllerProcess({ site: 'alpha' });
});

afterAll(async () => {
  await ctl?.stop();
  removeTempDirs();
});

async function listServices(): Promise<string[]> {
  const conn = ctl.connect();
  try {
    const refl = conn.client(reflectionV1.ServerReflection);
    async function* req() {
      yield { messageRequest: { case: 'listServices' as const, value: '' } };
    }
    const names: string[] = [];
    for await (const res of refl.serverReflectionInfo(req())) {
      if (res.messageResponse.case === 'listServicesResponse') names.push(...res.messageResponse.value.service.map((s) => s.name));
    }
    return names;
  } finally {
    conn.close();
  }
}

describe('haven-controller process', () => {
  it('answers health SERVING and lists the three Haven services through reflection', async () => {
    const conn = ctl.connect();
    const health = conn.client(Health);
    expect((await health.check({ service: '' })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    for (const svc of ['haven.v1.AgentService', 'haven.v1.AdminService', 'haven.v1.ReplicationService']) {
      expect((await health.check({ service: svc })).status, svc).toBe(HealthCheckResponse_ServingStatus.SERVING);
    }
    conn.close();
    expect(await listServices()).toEqual(
      expect.arrayContaining(['haven.v1.AgentService', 'haven.v1.AdminService', 'haven.v1.ReplicationService', 'grpc.health.v1.Health']),
    );
  });

  it('refuses to init over an existing site with one line and a non-zero exit', async () => {
    const r = await runNode(bins.controller, ['init', '--data', ctl.dataDir, '--site', 'alpha']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^haven-controller: ALREADY_EXISTS: /);
  });

  it('prints help and rejects unknown commands', async () => {
    const help = await runNode(bins.controller, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('haven-controller init --data DIR --site NAME');
    const bad = await runNode(bins.controller, ['frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('haven-controller: INVALID_ARGUMENT: unknown command "frobnicate" (try --help)\n');
  });

  it('comes back on the same address after SIGKILL', async () => {
    const before = ctl.address;
    expect(await ctl.kill('SIGKILL')).toBe('SIGKILL');
    await ctl.restart();
    expect(ctl.address).toBe(before);
    expect(await listServices()).toContain('haven.v1.AdminService');
  });
});
