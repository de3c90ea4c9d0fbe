import { join } from 'node:path';

/**
 * Where a controller keeps everything. One directory so that backup of the controller
 * itself, permissions (0700) and `haven --data DIR` all have one place to look.
 */
export interface DataDir {
  root: string;
  siteFile: string;
  tlsDir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  /** The admin client credential `haven --data DIR` uses locally. */
  adminCert: string;
  adminKey: string;
  keysDir: string;
  catalogDb: string;
  chunksDir: string;
  /** Written by `serve`: the address it listens on, so local CLI calls need no flag. */
  addressFile: string;
}

export function dataDirLayout(root: string): DataDir {
  return {
    root,
    siteFile: join(root, 'site.json'),
    tlsDir: join(root, 'tls'),
    caCert: join(root, 'tls', 'ca.pem'),
    caKey: join(root, 'tls', 'ca.key'),
    serverCert: join(root, 'tls', 'server.pem'),
    serverKey: join(root, 'tls', 'server.key'),
    adminCert: join(root, 'tls', 'admin.pem'),
    adminKey: join(root, 'tls', 'admin.key'),
    keysDir: join(root, 'keys'),
    catalogDb: join(root, 'catalog.db'),
    chunksDir: join(root, 'chunks'),
    addressFile: join(root, 'controller.addr'),
  };
}

/** Contents of site.json. */
export interface SiteIdentity {
  formatVersion: 1;
  siteId: string;
  siteName: string;
  createdAt: string;
}
