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
