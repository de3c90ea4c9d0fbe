import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { certificateFingerprint, createCertificateAuthority, issueCertificate } from './pki.js';
import { peerIdentity } from './tls.js';

/** What a TLS socket reports for a peer: the DER is what peerIdentity reads. */
function peerOf(certPem: string): PeerCertificate {
  return { raw: new X509Certificate(certPem).raw } as PeerCertificate;
}

describe('peerIdentity', () => {
  const site = createCertificateAuthority('alpha');
  const other = createCertificateAuthority('beta');
  const leaf = issueCertificate({ ca: site, commonName: 'host:web-1', usage: 'client' });
  const validTo = Date.parse(new X509Certificate(leaf.certPem).validTo);

  it('names a certificate of a trusted CA, again and again, and refuses it once expired', () => {
    for (let i = 0; i < 3; i++) {
      expect(peerIdentity(peerOf(leaf.certPem), [other.certPem, site.certPem])).toEqual({
        commonName: 'host:web-1',
        fingerprint: certificateFingerprint(leaf.certPem),
        issuerPem: site.certPem,
      });
    }
    expect(() => peerIdentity(peerOf(leaf.certPem), [other.certPem, site.certPem], validTo + 1000)).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
  });

  it('checks again when the trusted CAs change', () => {
    expect(peerIdentity(peerOf(leaf.certPem), [site.certPem])?.commonName).toBe('host:web-1');
    expect(() => peerIdentity(peerOf(leaf.certPem), [other.certPem])).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
    const foreign = issueCertificate({ ca: other, commonName: 'site:beta', usage: 'client' });
    expect(() => peerIdentity(peerOf(foreign.certPem), [site.certPem])).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
    expect(peerIdentity(undefined, [site.certPem])).toBeUndefined();
  });
});
