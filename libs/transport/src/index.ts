export {
  CONTROLLER_TLS_NAME,
  certificateCommonName,
  certificateFingerprint,
  certificateIssuedBy,
  createCertificateAuthority,
  createCertificateRequest,
  fingerprintOfDer,
  issueCertificate,
  readCertificateRequest,
} from './pki.js';
export type { IssueOptions, KeyPairPem } from './pki.js';
export { errorCodeOfStatus, grpcStatusOf, STATUS_TABLE } from './status-table.js';
export {
  CLIENT_TLS_CHANNEL_OPTIONS,
  createClientCredentials,
  createServerCredentials,
  fetchPinnedCaCertificate,
  peerIdentity,
} from './tls.js';
export type { ClientTlsMaterial, PeerIdentity, ServerTlsMaterial } from './tls.js';
