import { existsSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { HavenError } from '@haven/core';
import type { Logger } from '@haven/runtime';
import { readJsonFile, writeFileAtomic } from '@haven/runtime';
import { createServerCredentials, service, startHavenServer } from '@haven/transport';
import type { HavenServer } from '@haven/transport';
import {
  AdminService,
  AgentService,
  ReplicationService,
  file_haven_v1_admin,
  file_haven_v1_agent,
  file_haven_v1_replication,
} from '@haven/proto';
import { dataDirLayout } from './site/data-dir.js';
import type { DataDir, SiteIdentity } from './site/data-dir.js';

export interface ControllerOptions {
  dataDir: string;
  listen: string;
  logger: Logger;
}

export interface Controller {
  readonly site: SiteIdentity;
  readonly layout: DataDir;
  readonly server: HavenServer;
  close(): Promise<void>;
}

function readPem(path: string): string {
  return readFileSync(path, 'utf8');
}

/** Opens a data directory made by `haven-controller init` and serves its site. */
export async function startController(options: ControllerOptions): Promise<Controller> {
  const layout = dataDirLayout(options.dataDir);
  if (!existsSync(layout.siteFile)) {
    throw new HavenError('NOT_FOUND', `${options.dataDir} holds no site: run \`haven-controller init --data ${options.dataDir} --site NAME\` first`);
  }
  const site = readJsonFile<SiteIdentity>(layout.siteFile, 'site file');
  const caPem = readPem(layout.caCert);
  const server = await startHavenServer({
    listen: options.listen,
    credentials: createServerCredentials({
      trustedCaPems: [caPem],
      certPem: readPem(layout.serverCert),
      caPem,
      keyPem: readPem(layout.serverKey),
    }),
    reflectionFiles: [file_haven_v1_agent, file_haven_v1_admin, file_haven_v1_replication],
    services: [service(AgentService, {}), service(AdminService, {}), service(ReplicationService, {})],
  });
  writeFileAtomic(layout.addressFile, `${server.address}\n`);
  options.logger.info('listening', { address: server.address, site: site.siteName });
  return {
    site,
    layout,
    server,
    close: async () => {
      await server.close();
    },
  };
}
