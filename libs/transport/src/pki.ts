import { X509Certificate, createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';
import { HavenError } from '@haven/core';

/**
 * The site's small PKI. Node's crypto parses X.509 but cannot issue certificates, so
 * node-forge builds and signs them; keys come from Node's native generator (fast).
 * RSA-2048 is used because every TLS stack grpc-js can sit on supports it.
 */

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

/** Every server certificate carries this name; clients verify it instead of the dialled host. */
export const CONTROLLER_TLS_NAME = 'haven-controller';

const DAY_MS = 86_400_000;

function newKeyPair(): { publicKeyPem: string; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function serialHex(): string {
  // Positive 128-bit serial (leading nibble cleared keeps DER INTEGER positive).
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  return b.toString('hex');
}

function baseCert(publicKeyPem: string, commonName: string, days: number, nowMs: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  cert.serialNumber = serialHex();
  // Backdate a little so peers with slightly slow clocks accept a fresh certificate.
  cert.validity.notBefore = new Date(nowMs - 5 * 60_000);
  cert.validity.notAfter = new Date(nowMs + days * DAY_MS);
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  return cert;
}

/** A self-signed CA for one site. */
export function createCertificateAuthority(siteName: string, nowMs = Date.now()): KeyPairPem {
  const { publicKeyPem, privateKeyPem } = newKeyPair();
  const cert = baseCert(publicKeyPem, `Haven site CA ${siteName}`, 3650, nowMs);
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(privateKeyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: privateKeyPem };
}

export interface IssueOptions {
  ca: KeyPairPem;
  commonName: string;
  usage: 'server' | 'client';
  /** Subject public key; when omitted a new key pair is generated and returned. */
  publicKeyPem?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  days?: number;
  nowMs?: number;
}

/** Issues a leaf certificate signed by the site CA. */
export function issueCertificate(opts: IssueOptions): { certPem: string; keyPem?: string } {
  let keyPem: string | undefined;
  let publicKeyPem = opts.publicKeyPem;
  if (publicKeyPem === undefined) {
    const kp = newKeyPair();
    publicKeyPem = kp.publicKeyPem;
    keyPem = kp.privateKeyPem;
  }
  const caCert = forge.pki.certificateFromPem(opts.ca.certPem);
  const cert = baseCert(publicKeyPem, opts.commonName, opts.days ?? 825, opts.nowMs ?? Date.now());
  cert.setIssuer(caCert.subject.attributes);
  const altNames: Array<{ type: number; value?: string; ip?: string }> = [];
  for (const d of opts.dnsNames ?? []) altNames.push({ type: 2, value: d });
  for (const ip of opts.ipAddresses ?? []) altNames.push({ type: 7, ip });
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: opts.usage === 'server', clientAuth: opts.usage === 'client' },
    ...(altNames.length > 0 ? [{ name: 'subjectAltName', altNames }] : []),
  ]);
  cert.sign(forge.pki.privateKeyFromPem(opts.ca.keyPem), forge.md.sha256.create());
  return keyPem === undefined
    ? { certPem: forge.pki.certificateToPem(cert) }
    : { certPem: forge.pki.certificateToPem(cert), keyPem };
}

/** A key pair and a PKCS#10 request for it: what an enrolling agent sends. */
export function createCertificateRequest(commonName: string): { csrPem: string; keyPem: string } {
  const { publicKeyPem, privateKeyPem } = newKeyPair();
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  csr.setSubject([{ name: 'commonName', value: commonName }]);
  csr.sign(forge.pki.privateKeyFromPem(privateKeyPem), forge.md.sha256.create());
  return { csrPem: forge.pki.certificationRequestToPem(csr), keyPem: privateKeyPem };
}

/** Validates a CSR's self-signature and returns its public key and common name. */
export function readCertificateRequest(csrPem: string): { publicKeyPem: string; commonName: string } {
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(csrPem);
  } catch (err) {
    throw new HavenError('INVALID_ARGUMENT', 'certificate request is not valid PEM PKCS#10', { cause: err });
  }
  if (!csr.verify()) throw new HavenError('INVALID_ARGUMENT', 'certificate request signature does not verify');
  if (csr.publicKey === null) throw new HavenError('INVALID_ARGUMENT', 'certificate request has no public key');
  const cn = csr.subject.getField('CN') as { value?: unknown } | null;
  return {
    publicKeyPem: forge.pki.publicKeyToPem(csr.publicKey as forge.pki.PublicKey),
    commonName: typeof cn?.value === 'string' ? cn.value : '',
  };
}

/** SHA-256 over the certificate's DER, lowercase hex: what tokens pin. */
export function certificateFingerprint(certPem: string): string {
  return fingerprintOfDer(new X509Certificate(certPem).raw);
}

export function fingerprintOfDer(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** Subject common name of a PEM certificate. */
export function certificateCommonName(certPem: string): string {
  const subject = new X509Certificate(certPem).subject;
  const m = /(?:^|\n)CN=([^\n]*)/.exec(subject);
  return m?.[1] ?? '';
}

/** True when `certPem` was signed by `caPem` and is inside its validity window. */
export function certificateIssuedBy(certPem: string, caPem: string, nowMs = Date.now()): boolean {
  const cert = new X509Certificate(certPem);
  const ca = new X509Certificate(caPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return false;
  return Date.parse(cert.validFrom) <= nowMs && nowMs <= Date.parse(cert.validTo);
}
