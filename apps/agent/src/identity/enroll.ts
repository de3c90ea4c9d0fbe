import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { HavenError, parseEnrollmentToken } from '@haven/core';
import { AgentService } from '@haven/proto';
import { parseHostPort } from '@haven/runtime';
import { connectHaven, createCertificateRequest, fetchPinnedCaCertificate } from '@haven/transport';
import { agentStatePaths, saveIdentity } from './agent-identity.js';
import type { AgentIdentity } from './agent-identity.js';

export const AGENT_VERSION = '0.1.0';

/**
 * `haven-agent enroll`: pin the site CA from the token's fingerprint (nothing secret is
 * sent before it matches), send a CSR with the one-time token, keep the signed
 * certificate. The private key never leaves this host.
 */
export async function enrollAgent(options: { controller: string; token: string; stateDir: string; hostName?: string }): Promise<AgentIdentity> {
  const paths = agentStatePaths(options.stateDir);
  if (existsSync(paths.identity)) throw new HavenError('ALREADY_EXISTS', `${options.stateDir} is already enrolled (agent.json exists)`);
  const { host, port } = parseHostPort(options.controller);
  const token = parseEnrollmentToken(options.token);
  const caPem = await fetchPinnedCaCertificate(host, port, token.caFingerprint);
  const csr = createCertificateRequest(options.hostName ?? hostname());
  const conn = connectHaven(options.controller, { caPem });
  try {
    const res = await conn.client(AgentService).enroll(
      { token: options.token.trim(), csrPem: csr.csrPem, hostName: options.hostName ?? '', agentVersion: AGENT_VERSION },
      { timeoutMs: 30_000 },
    );
    const identity: AgentIdentity = {
      formatVersion: 1,
      controller: options.controller,
      hostName: res.hostName,
      hostId: res.hostId,
      siteName: res.siteName,
      enrolledAt: new Date().toISOString(),
    };
    saveIdentity(paths, identity, { caPem: res.caCertificatePem, certPem: res.certificatePem, keyPem: csr.keyPem });
    return identity;
  } finally {
    conn.close();
  }
}
