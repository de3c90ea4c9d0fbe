import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import type { DetailedPeerCertificate, PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { HavenError } from '@haven/core';
import { CONTROLLER_TLS_NAME, fingerprintOfDer } from './pki.js';

/**
 * Server credentials that request, but do not require, a client certificate: enrollment
 * must work before an agent has one, so the handshake accepts anonymous clients and every
 * handler decides from the verified peer identity (see `peerIdentity`).
 */
class OptionalClientCertCredentials extends grpc.ServerCredentials {
  constructor(caPems: string[], chainPem: string, keyPem: string) {
    super(
      { requestCert: true, rejectUnauthorized: false },
      { ca: caPems.map((p) => Buffer.from(p)), cert: Buffer.from(chainPem), key: Buffer.from(keyPem) },
    );
  }
  override _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

export interface ServerTlsMaterial {
  /** CAs whose client certificates are accepted: the site CA and paired sites' CAs. */
  trustedCaPems: string[];
  /** The server certificate; the issuing CA is appended so enrolling agents can pin it. */
  certPem: string;
  caPem: string;
  keyPem: string;
}

export function createServerCredentials(m: ServerTlsMaterial): grpc.ServerCredentials {
  return new OptionalClientCertCredentials(m.trustedCaPems, `${m.certPem.trim()}\n${m.caPem.trim()}\n`, m.keyPem);
}

export interface ClientTlsMaterial {
  caPem: string;
  certPem?: string;
  keyPem?: string;
}

/** Client credentials pinned to one site CA; servers are verified by CA, not by dialled host. */
export function createClientCredentials(m: ClientTlsMaterial): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(
    Buffer.from(m.caPem),
    m.keyPem === undefined ? null : Buffer.from(m.keyPem),
    m.certPem === undefined ? null : Buffer.from(m.certPem),
  );
}

/** Channel options every Haven client uses with `createClientCredentials`. */
export const CLIENT_TLS_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.ssl_target_name_override': CONTROLLER_TLS_NAME,
  'grpc.default_authority': CONTROLLER_TLS_NAME,
};

export interface PeerIdentity {
  commonName: string;
  /** SHA-256 of the client certificate's DER. */
  fingerprint: string;
  /** The trusted CA (PEM) that issued it. */
  issuerPem: string;
}

/** A certificate already checked against a set of trusted CAs. */
interface VerifiedPeer {
  readonly trusted: string;
  readonly identity: PeerIdentity;
  readonly validFromMs: number;
  readonly validToMs: number;
}

/** Verified peers by certificate DER (base64); bounded, cleared when full. */
const verifiedPeers = new Map<string, VerifiedPeer>();
const VERIFIED_PEERS_MAX = 4096;

/**
 * The verified identity of a call's TLS peer, or undefined when it presented no
 * certificate. A certificate not issued by one of `trustedCaPems` (or expired) is
 * UNAUTHENTICATED: the handshake lets it through only so that enrollment can work.
 *
 * Every call asks, and parsing and verifying the certificates costs about a millisecond,
 * which a restore fetching chunks in many small calls paid over and over (a tenth of the
 * controller's CPU). So a certificate verified against the same trusted CAs is
 * remembered; its validity period is still checked on every call.
 */
export function peerIdentity(
  peerCert: PeerCertificate | undefined,
  trustedCaPems: readonly string[],
  nowMs = Date.now(),
): PeerIdentity | undefined {
  if (peerCert === undefined || peerCert.raw === undefined || Object.keys(peerCert).length === 0) return undefined;
  const key = peerCert.raw.toString('base64');
  const trusted = trustedCaPems.join('\n');
  const known = verifiedPeers.get(key);
  if (known !== undefined && known.trusted === trusted) {
    if (known.validFromMs <= nowMs && nowMs <= known.validToMs) return known.identity;
    throw new HavenError('UNAUTHENTICATED', 'client certificate is not issued by a trusted CA or has expired');
  }
  const cert = new X509Certificate(peerCert.raw);
  const validFromMs = Date.parse(cert.validFrom);
  const validToMs = Date.parse(cert.validTo);
  const validNow = validFromMs <= nowMs && nowMs <= validToMs;
  for (const caPem of trustedCaPems) {
    const ca = new X509Certificate(caPem);
    if (cert.checkIssued(ca) && cert.verify(ca.publicKey)) {
      const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? '';
      const identity = { commonName: cn, fingerprint: fingerprintOfDer(cert.raw), issuerPem: caPem };
      if (verifiedPeers.size >= VERIFIED_PEERS_MAX) verifiedPeers.clear();
      verifiedPeers.set(key, { trusted, identity, validFromMs, validToMs });
      if (validNow) return identity;
      break;
    }
  }
  throw new HavenError('UNAUTHENTICATED', 'client certificate is not issued by a trusted CA or has expired');
}

/**
 * Fetches the CA certificate a server presents and checks it against a pinned SHA-256
 * fingerprint (the kubeadm-join idea): the only moment Haven talks TLS without a trusted
 * root, and nothing is sent before the pin matches.
 */
export async function fetchPinnedCaCertificate(host: string, port: number, fingerprint: string, timeoutMs = 10_000): Promise<string> {
  const chain = await new Promise<DetailedPeerCertificate>((resolve, reject) => {
    const socket = connect({ host: host.replace(/^\[|\]$/g, ''), port, rejectUnauthorized: false, ALPNProtocols: ['h2'], servername: CONTROLLER_TLS_NAME });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new HavenError('UNAVAILABLE', `no TLS answer from ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const peer = socket.getPeerCertificate(true);
      socket.end();
      resolve(peer);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new HavenError('UNAVAILABLE', `cannot reach ${host}:${port}: ${err.message}`, { cause: err }));
    });
  });
  const seen = new Set<DetailedPeerCertificate>();
  for (let c: DetailedPeerCertificate | undefined = chain; c !== undefined && !seen.has(c); c = c.issuerCertificate) {
    seen.add(c);
    if (c.raw !== undefined && fingerprintOfDer(c.raw) === fingerprint.toLowerCase()) {
      return new X509Certificate(c.raw).toString();
    }
  }
  throw new HavenError('UNAUTHENTICATED', `the server at ${host}:${port} does not present the pinned CA (fingerprint mismatch)`);
}
