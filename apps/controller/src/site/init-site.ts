import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { HavenError } from '@haven/core';
import { writeFileAtomic } from '@haven/runtime';
import { CONTROLLER_TLS_NAME, certificateFingerprint, createCertificateAuthority, issueCertificate } from '@haven/transport';
import { dataDirLayout } from './data-dir.js';
import type { DataDir, SiteIdentity } from './data-dir.js';

const SITE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface InitResult {
  layout: DataDir;
  site: SiteIdentity;
  caFingerprint: string;
}

/**
 * `haven-controller init`: the site's identity, CA, server certificate, local admin
 * credential and storage keys. Refuses a directory that already holds a site, so a typo
 * can never replace a CA that agents have pinned.
 */
export async function initSite(options: {
  dataDir: string;
  siteName: string;
  createStorageKeys: (keysDir: string) => Promise<void>;
  extraServerNames?: string[];
}): Promise<InitResult> {
  if (!SITE_NAME.test(options.siteName)) {
    throw new HavenError('INVALID_ARGUMENT', `site name "${options.siteName}" must be lowercase letters, digits and dashes (max 63)`);
  }
  const layout = dataDirLayout(options.dataDir);
  if (existsSync(layout.siteFile)) {
    throw new HavenError('ALREADY_EXISTS', `${options.dataDir} already holds a site (site.json exists)`);
  }
  if (existsSync(options.dataDir) && readdirSync(options.dataDir).length > 0) {
    throw new HavenError('ALREADY_EXISTS', `${options.dataDir} is not empty`);
  }
  for (const dir of [layout.root, layout.tlsDir, layout.keysDir, layout.chunksDir]) mkdirSync(dir, { recursive: true, mode: 0o700 });

  const ca = createCertificateAuthority(options.siteName);
  const server = issueCertificate({
    ca,
    commonName: `${CONTROLLER_TLS_NAME}.${options.siteName}`,
    usage: 'server',
    dnsNames: [CONTROLLER_TLS_NAME, 'localhost', hostname(), ...(options.extraServerNames ?? [])],
    ipAddresses: ['127.0.0.1', '::1'],
  });
  const admin = issueCertificate({ ca, commonName: `admin:${options.siteName}`, usage: 'client' });
  writeFileAtomic(layout.caCert, ca.certPem);
  writeFileAtomic(layout.caKey, ca.keyPem, 0o600);
  writeFileAtomic(layout.serverCert, server.certPem);
  writeFileAtomic(layout.serverKey, server.keyPem ?? '', 0o600);
  writeFileAtomic(layout.adminCert, admin.certPem);
  writeFileAtomic(layout.adminKey, admin.keyPem ?? '', 0o600);
  await options.createStorageKeys(layout.keysDir);

  const site: SiteIdentity = {
    formatVersion: 1,
    siteId: randomUUID(),
    siteName: options.siteName,
    createdAt: new Date().toISOString(),
  };
  // site.json last: its presence marks a complete init.
  writeFileAtomic(layout.siteFile, `${JSON.stringify(site, null, 2)}\n`);
  return { layout, site, caFingerprint: certificateFingerprint(ca.certPem) };
}
