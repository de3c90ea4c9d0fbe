import { AdminService, AgentService } from '@haven/proto';
import type { Client } from '@haven/proto';
import { connectHaven, createCertificateRequest } from '@haven/transport';
import type { HavenConnection } from '@haven/transport';
import type { ControllerProcess } from './controller-process.js';

/** An enrolled host identity for driving AgentService directly from a test. */
export interface TestHost {
  readonly name: string;
  readonly hostId: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly caPem: string;
  connect(): HavenConnection;
  /** A typed AgentService client on a fresh connection (closed by `close`). */
  agent(): Client<typeof AgentService>;
  close(): void;
}

/** Mints a token as the admin and redeems it the way an agent does (CSR over pinned TLS). */
export async function enrollTestHost(ctl: ControllerProcess, name: string): Promise<TestHost> {
  const admin = ctl.connect();
  const { token } = await admin.client(AdminService).createToken({ host: name });
  admin.close();
  const csr = createCertificateRequest(name);
  const anon = connectHaven(ctl.address, { caPem: ctl.admin.caPem });
  const res = await anon.client(AgentService).enroll({ token, csrPem: csr.csrPem, hostName: name, agentVersion: 'test' });
  anon.close();
  const conns: HavenConnection[] = [];
  const connect = (): HavenConnection => {
    const c = connectHaven(ctl.address, { caPem: res.caCertificatePem, certPem: res.certificatePem, keyPem: csr.keyPem });
    conns.push(c);
    return c;
  };
  return {
    name,
    hostId: res.hostId,
    certPem: res.certificatePem,
    keyPem: csr.keyPem,
    caPem: res.caCertificatePem,
    connect,
    agent: () => connect().client(AgentService),
    close: () => {
      for (const c of conns) c.close();
    },
  };
}
