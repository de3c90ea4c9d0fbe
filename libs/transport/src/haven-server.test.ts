import * as http2 from 'node:http2';
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, HavenError, isErrorCode } from '@haven/core';
import type { ErrorCode } from '@haven/core';
import { AdminService, Health, HealthCheckResponse_ServingStatus, file_haven_v1_admin, reflectionV1 } from '@haven/proto';
import { connectHaven } from './haven-client.js';
import { SERVER_CONNECTION_WINDOW_BYTES, SERVER_STREAM_WINDOW_BYTES, service, startHavenServer } from './haven-server.js';
import type { HavenServer } from './haven-server.js';
import { CONTROLLER_TLS_NAME, createCertificateAuthority, issueCertificate } from './pki.js';
import { grpcStatusOf } from './status-table.js';
import { createServerCredentials, peerIdentity } from './tls.js';

const ca = createCertificateAuthority('alpha');
const serverCert = issueCertificate({ ca, commonName: 'haven-controller.alpha', usage: 'server', dnsNames: ['haven-controller'] });
const admin = issueCertificate({ ca, commonName: 'admin:alpha', usage: 'client' });
const stranger = createCertificateAuthority('mallory');
const strangerCert = issueCertificate({ ca: stranger, commonName: 'admin:alpha', usage: 'client' });

let server: HavenServer;
const seenPeers: string[] = [];

beforeAll(async () => {
  server = await startHavenServer({
    listen: '127.0.0.1:0',
    credentials: createServerCredentials({ trustedCaPems: [ca.certPem], certPem: serverCert.certPem, caPem: ca.certPem, keyPem: serverCert.keyPem ?? '' }),
    reflectionFiles: [file_haven_v1_admin],
    services: [
      service(AdminService, {
        // The error table test: the client names the code to fail with.
        async getStatus(_req, ctx) {
          const who = peerIdentity(ctx.peerCertificate, [ca.certPem]);
          seenPeers.push(who?.commonName ?? '(anonymous)');
          const code = ctx.metadata.get('x-fail-with')[0];
          if (typeof code === 'string' && isErrorCode(code)) throw new HavenError(code, `failed with ${code}`, { details: { probe: code } });
          if (code === 'plain') throw new Error('boom\nsecond line');
          return {};
        },
      }),
    ],
  });
});

afterAll(async () => {
  await server.close();
});

function connect(cert: { certPem: string; keyPem?: string } | undefined) {
  return connectHaven(server.address, { caPem: ca.certPem, ...(cert === undefined ? {} : { certPem: cert.certPem, keyPem: cert.keyPem ?? '' }) });
}

describe('haven server', () => {
  it('answers health SERVING for itself and its services', async () => {
    const conn = connect(admin);
    const health = conn.client(Health);
    expect((await health.check({ service: '' })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await health.check({ service: 'haven.v1.AdminService' })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    conn.close();
  });

  it('lists services through reflection', async () => {
    const conn = connect(admin);
    const refl = conn.client(reflectionV1.ServerReflection);
    const names: string[] = [];
    async function* req() {
      yield { messageRequest: { case: 'listServices' as const, value: '' } };
    }
    for await (const res of refl.serverReflectionInfo(req())) {
      if (res.messageResponse.case === 'listServicesResponse') names.push(...res.messageResponse.value.service.map((s) => s.name));
    }
    expect(names).toEqual(expect.arrayContaining(['haven.v1.AdminService', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection']));
    conn.close();
  });

  it('round-trips every error code through the table', async () => {
    const conn = connect(admin);
    const adminClient = conn.client(AdminService);
    for (const code of ERROR_CODES) {
      const md = new Metadata();
      md.set('x-fail-with', code);
      const err = await adminClient.getStatus({}, { metadata: md }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, code).toBeInstanceOf(HavenError);
      const he = err as HavenError;
      expect(he.code).toBe(code);
      expect(he.message).toBe(`failed with ${code}`);
      expect(he.details).toEqual({ probe: code });
      expect((he.cause as { code: number }).code).toBe(grpcStatusOf(code as ErrorCode));
    }
    conn.close();
  });

  it('turns a plain exception into one-line INTERNAL', async () => {
    const conn = connect(admin);
    const md = new Metadata();
    md.set('x-fail-with', 'plain');
    const err = (await conn.client(AdminService).getStatus({}, { metadata: md }).catch((e: unknown) => e)) as HavenError;
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toBe('internal error: boom');
    conn.close();
  });

  it('answers UNIMPLEMENTED for methods not built', async () => {
    const conn = connect(admin);
    const err = (await conn.client(AdminService).listHosts({}).catch((e: unknown) => e)) as HavenError;
    expect(err.code).toBe('UNIMPLEMENTED');
    expect((err.cause as { code: number }).code).toBe(GrpcStatus.UNIMPLEMENTED);
    conn.close();
  });

  it('lets clients send megabytes ahead: large stream and connection receive windows', async () => {
    const session = http2.connect(`https://${server.address}`, {
      ca: ca.certPem,
      cert: admin.certPem,
      key: admin.keyPem ?? '',
      servername: CONTROLLER_TLS_NAME,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        session.once('error', reject);
        // The server's SETTINGS arrive first; its connection WINDOW_UPDATE right behind them.
        session.once('remoteSettings', () => setTimeout(resolve, 100));
      });
      expect(session.remoteSettings.initialWindowSize).toBe(SERVER_STREAM_WINDOW_BYTES);
      expect(session.state.remoteWindowSize).toBe(SERVER_CONNECTION_WINDOW_BYTES);
    } finally {
      session.close();
    }
  });

  it('identifies mTLS peers; anonymous and foreign-CA clients carry no identity', async () => {
    seenPeers.length = 0;
    const a = connect(admin);
    await a.client(AdminService).getStatus({});
    a.close();
    const anon = connect(undefined);
    await anon.client(AdminService).getStatus({});
    anon.close();
    expect(seenPeers).toEqual(['admin:alpha', '(anonymous)']);
    // grpc-js exposes only verified client certificates: a certificate from a foreign CA
    // is indistinguishable from none, so it can never pass as an identity.
    const m = connect(strangerCert);
    await m.client(AdminService).getStatus({});
    expect(seenPeers).toEqual(['admin:alpha', '(anonymous)', '(anonymous)']);
    m.close();
  });
});
