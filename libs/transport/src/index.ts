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
export { ERROR_CODE_TRAILER, ERROR_DOMAIN, havenStatusCodec } from './haven-status-codec.js';
export { SERVER_CONNECTION_WINDOW_BYTES, SERVER_STREAM_WINDOW_BYTES, service, startHavenServer } from './haven-server.js';
export type { HavenServer, ServiceRegistration } from './haven-server.js';
export { CLIENT_WINDOW_BYTES, connectHaven } from './haven-client.js';
export type { HavenConnection } from './haven-client.js';
