import { describe, expect, it } from 'vitest';
import {
  certificateCommonName,
  certificateFingerprint,
  certificateIssuedBy,
  createCertificateAuthority,
  createCertificateRequest,
  issueCertificate,
  readCertificateRequest,
} from './index.js';

describe('pki', () => {
  const ca = createCertificateAuthority('alpha');

  it('issues a server certificate the CA verifies', () => {
    const server = issueCertificate({ ca, commonName: 'haven-controller', usage: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    expect(server.keyPem).toContain('PRIVATE KEY');
    expect(certificateIssuedBy(server.certPem, ca.certPem)).toBe(true);
    expect(certificateCommonName(server.certPem)).toBe('haven-controller');
  });

  it('signs a CSR without ever seeing the private key', () => {
    const req = createCertificateRequest('web-1');
    const parsed = readCertificateRequest(req.csrPem);
    expect(parsed.commonName).toBe('web-1');
    const leaf = issueCertificate({ ca, commonName: 'host:web-1', usage: 'client', publicKeyPem: parsed.publicKeyPem });
    expect(leaf.keyPem).toBeUndefined();
    expect(certificateIssuedBy(leaf.certPem, ca.certPem)).toBe(true);
  });

  it('rejects a certificate from another CA and a tampered CSR', () => {
    const other = createCertificateAuthority('beta');
    const leaf = issueCertificate({ ca: other, commonName: 'x', usage: 'client' });
    expect(certificateIssuedBy(leaf.certPem, ca.certPem)).toBe(false);
    expect(() => readCertificateRequest('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  it('fingerprints are stable sha256 hex', () => {
    expect(certificateFingerprint(ca.certPem)).toMatch(/^[0-9a-f]{64}$/);
    expect(certificateFingerprint(ca.certPem)).toBe(certificateFingerprint(ca.certPem));
  });
});
