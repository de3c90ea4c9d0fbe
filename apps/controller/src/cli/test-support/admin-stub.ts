import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { AdminService, file_haven_v1_admin } from '@haven/proto';
import type { ServiceImpl } from '@haven/proto';
import { CONTROLLER_TLS_NAME, createCertificateAuthority, createServerCredentials, issueCertificate, service, startHavenServer } from '@haven/transport';
import type { HavenServer } from '@haven/transport';
import type { CliIo } from '../cli-io.js';

/**
 * A real mTLS gRPC server answering AdminService with the handlers a test gives: the CLI
 * under test connects to it exactly as to a controller, through a profile file. (The
 * controller's own Admin handlers are tested where they live.)
 */
export interface AdminStub {
  readonly server: HavenServer;
  /** Requests received, as [method localName, request]. */
  readonly calls: Array<[string, unknown]>;
  /** A profile file pointing at this server with an admin credential of its CA. */
  readonly profilePath: string;
  io(options?: { stdinTty?: boolean; input?: string }): TestIo;
  close(): Promise<void>;
}

export interface TestIo extends CliIo {
  out(): string;
  err(): string;
}

export async function startAdminStub(impl: Partial<ServiceImpl<typeof AdminService>>): Promise<AdminStub> {
  const ca = createCertificateAuthority('stub');
  const serverCert = issueCertificate({ ca, commonName: 'haven-controller.stub', usage: 'server', dnsNames: [CONTROLLER_TLS_NAME] });
  const admin = issueCertificate({ ca, commonName: 'admin:stub', usage: 'client' });
  const calls: Array<[string, unknown]> = [];
  const recorded: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(impl)) {
    recorded[name] = (req: unknown, ctx: unknown) => {
      calls.push([name, req]);
      return (fn as (r: unknown, c: unknown) => unknown)(req, ctx);
    };
  }
  const server = await startHavenServer({
    listen: '127.0.0.1:0',
    credentials: createServerCredentials({ trustedCaPems: [ca.certPem], certPem: serverCert.certPem, caPem: ca.certPem, keyPem: serverCert.keyPem ?? '' }),
    reflectionFiles: [file_haven_v1_admin],
    services: [service(AdminService, recorded as Partial<ServiceImpl<typeof AdminService>>)],
  });
  const dir = mkdtempSync(join(tmpdir(), 'haven-cli-stub-'));
  const profilePath = join(dir, 'profile.json');
  writeFileSync(join(dir, 'ca.pem'), ca.certPem);
  writeFileSync(profilePath, JSON.stringify({ controller: server.address, caFile: 'ca.pem', certPem: admin.certPem, keyPem: admin.keyPem }));
  return {
    server,
    calls,
    profilePath,
    io: (options = {}) => createTestIo({ HAVEN_PROFILE: profilePath }, options),
    close: async () => {
      await server.close(0);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function createTestIo(env: NodeJS.ProcessEnv, options: { stdinTty?: boolean; input?: string } = {}): TestIo {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = Object.assign(new PassThrough(), { isTTY: options.stdinTty === true });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (b: Buffer) => out.push(b));
  stderr.on('data', (b: Buffer) => err.push(b));
  if (options.input !== undefined) stdin.end(options.input);
  return {
    stdout,
    stderr,
    stdin,
    env,
    out: () => Buffer.concat(out).toString(),
    err: () => Buffer.concat(err).toString(),
  };
}
