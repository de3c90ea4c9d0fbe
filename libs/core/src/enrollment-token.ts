import { HavenError } from './errors.js';

/**
 * An enrollment token: `hvn1.<secret>.<ca-sha256>`. Like a kubeadm join token it carries
 * what the joining side needs to trust the server before it has any credential: the
 * SHA-256 fingerprint of the site CA, checked before the secret is ever sent.
 */
export interface EnrollmentTokenParts {
  /** base64url, 32 bytes of randomness. */
  secret: string;
  /** Lowercase hex SHA-256 of the site CA certificate (DER). */
  caFingerprint: string;
}

const TOKEN = /^hvn1\.([A-Za-z0-9_-]{43})\.([0-9a-f]{64})$/;

export function formatEnrollmentToken(parts: EnrollmentTokenParts): string {
  const token = `hvn1.${parts.secret}.${parts.caFingerprint}`;
  if (!TOKEN.test(token)) throw new HavenError('INVALID_ARGUMENT', 'enrollment token parts are malformed');
  return token;
}

export function parseEnrollmentToken(text: string): EnrollmentTokenParts {
  const m = TOKEN.exec(text.trim());
  if (m === null) throw new HavenError('INVALID_ARGUMENT', 'not an enrollment token (expected hvn1.<secret>.<ca-fingerprint>; copy it from `haven token create`)');
  return { secret: m[1]!, caFingerprint: m[2]! };
}
