import { createHash, randomBytes } from 'node:crypto';
import { HavenError, formatEnrollmentToken, parseEnrollmentToken } from '@haven/core';
import type { Clock } from '@haven/core';
import { certificateFingerprint, issueCertificate, readCertificateRequest } from '@haven/transport';
import type { KeyPairPem } from '@haven/transport';
import type { Catalog, Host } from '../catalog/catalog.js';
import { ROLE_PREFIX } from '../rpc/caller.js';

const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const MAX_TOKEN_TTL_MS = 7 * 86_400_000;

function tokenHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export interface Enrollment {
  createToken(hostName: string, ttlMs: number): { token: string; expiresAtMs: number };
  enroll(request: { token: string; csrPem: string; hostName: string }): { host: Host; certPem: string };
}

/**
 * One-time, expiring enrollment: the admin mints a token for a host name; the agent
 * redeems it with a CSR and receives a client certificate (CN `host:NAME`) signed by the
 * site CA. Only the token's hash is stored.
 */
export function createEnrollment(deps: { catalog: Catalog; ca: KeyPairPem; caFingerprint: string; clock: Clock }): Enrollment {
  return {
    createToken(hostName, ttlMs) {
      if (!HOST_NAME.test(hostName)) throw new HavenError('INVALID_ARGUMENT', `host name "${hostName}" must be letters, digits, '.', '_' or '-' (max 63)`);
      if (!(ttlMs > 0 && ttlMs <= MAX_TOKEN_TTL_MS)) throw new HavenError('INVALID_ARGUMENT', 'token ttl must be between 1s and 7d');
      const secret = randomBytes(32).toString('base64url');
      const expiresAtMs = deps.clock.now() + ttlMs;
      deps.catalog.addEnrollmentToken({ tokenHash: tokenHash(secret), hostName, expiresAtMs });
      return { token: formatEnrollmentToken({ secret, caFingerprint: deps.caFingerprint }), expiresAtMs };
    },
    enroll(request) {
      const parts = parseEnrollmentToken(request.token);
      if (parts.caFingerprint !== deps.caFingerprint) throw new HavenError('UNAUTHENTICATED', 'token was issued by another site');
      const hash = tokenHash(parts.secret);
      const pending = deps.catalog.listEnrollmentTokens().find((t) => t.tokenHash === hash);
      if (pending === undefined) throw new HavenError('UNAUTHENTICATED', 'enrollment token is unknown, used or expired');
      if (request.hostName !== '' && request.hostName !== pending.hostName) {
        throw new HavenError('PERMISSION_DENIED', `token is for host "${pending.hostName}", not "${request.hostName}"`);
      }
      const csr = readCertificateRequest(request.csrPem);
      const { certPem } = issueCertificate({
        ca: deps.ca,
        commonName: `${ROLE_PREFIX.host}${pending.hostName}`,
        usage: 'client',
        publicKeyPem: csr.publicKeyPem,
      });
      const host = deps.catalog.enrollHost({ tokenHash: hash, certFingerprint: certificateFingerprint(certPem) });
      return { host, certPem };
    },
  };
}
