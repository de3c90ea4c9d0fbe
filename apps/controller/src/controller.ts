import { availableParallelism } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HavenError, systemClock } from '@haven/core';
import type { Clock } from '@haven/core';
import type { Logger } from '@haven/runtime';
import { readJsonFile, writeFileAtomic } from '@haven/runtime';
import { certificateFingerprint, createServerCredentials, service, startHavenServer } from '@haven/transport';
import type { HavenServer } from '@haven/transport';
import {
  AdminService,
  AgentService,
  ReplicationService,
  file_haven_v1_admin,
  file_haven_v1_agent,
  file_haven_v1_replication,
} from '@haven/proto';
import { createSqliteCatalog } from './catalog/sqlite-catalog.js';
import { createAdminService } from './rpc/admin-service.js';
import { createAgentService } from './rpc/agent-service.js';
import { createCallerResolver } from './rpc/caller.js';
import { createChunkScope } from './services/chunk-scope.js';
import { createControllerMetrics, serveMetrics } from './services/controller-metrics.js';
import type { ControllerContext } from './services/controller-context.js';
import { createEnrollment } from './services/enrollment.js';
import { createIngest } from './services/ingest.js';
import { createJobRunner } from './services/job-runner.js';
import { createRwLock } from './services/rw-lock.js';
import { createSessionHub } from './services/session-hub.js';
import { dataDirLayout } from './site/data-dir.js';
import { createPackStore } from './store/pack-store.js';
import { loadStorageKey } from './store/storage-key.js';
import type { DataDir, SiteIdentity } from './site/data-dir.js';

export interface ControllerOptions {
  dataDir: string;
  listen: string;
  logger: Logger;
  clock?: Clock;
  /** HOST:PORT for the Prometheus endpoint; none when absent. */
  metricsListen?: string;
}

export interface Controller {
  readonly site: SiteIdentity;
  readonly layout: DataDir;
  readonly server: HavenServer;
  readonly context: ControllerContext;
  /** Bound address of the metrics endpoint, when enabled. */
  readonly metricsAddress: string | undefined;
  close(): Promise<void>;
}

function readPem(path: string): string {
  return readFileSync(path, 'utf8');
}

/**
 * `HAVEN_PACK_SIZE_BYTES` overrides the size at which packs are sealed (default 64 MiB).
 * Small packs make sealing, compaction and damage to a sealed pack reachable with little
 * data (end-to-end tests, drills on a laptop); production keeps the default.
 */
const PACK_SIZE_ENV = 'HAVEN_PACK_SIZE_BYTES';

function packSizeFromEnv(): number | undefined {
  const raw = process.env[PACK_SIZE_ENV];
  if (raw === undefined || raw === '') return undefined;
  if (!/^[0-9]{1,12}$/.test(raw)) throw new HavenError('INVALID_ARGUMENT', `${PACK_SIZE_ENV} must be a byte count, got "${raw.slice(0, 40)}"`);
  // createPackStore checks the range.
  return Number(raw);
}

/** Opens a data directory made by `haven-controller init` and serves its site. */
export async function startController(options: ControllerOptions): Promise<Controller> {
  const layout = dataDirLayout(options.dataDir);
  if (!existsSync(layout.siteFile)) {
    throw new HavenError('NOT_FOUND', `${options.dataDir} holds no site: run \`haven-controller init --data ${options.dataDir} --site NAME\` first`);
  }
  const site = readJsonFile<SiteIdentity>(layout.siteFile, 'site file');
  const packSizeBytes = packSizeFromEnv();
  const clock = options.clock ?? systemClock;
  const logger = options.logger;
  const caPem = readPem(layout.caCert);
  const ca = { certPem: caPem, keyPem: readPem(layout.caKey) };
  const caFingerprint = certificateFingerprint(caPem);

  const catalog = createSqliteCatalog({ path: layout.catalogDb, clock });
  catalog.initLocalSite({ id: site.siteId, name: site.siteName });
  const store = await createPackStore({
    dir: layout.chunksDir,
    key: await loadStorageKey(layout.keysDir),
    clock,
    ...(packSizeBytes === undefined ? {} : { packSizeBytes }),
  });
  if (store.recovery.truncatedBytes > 0 || store.recovery.lostChunks.length > 0) {
    logger.warn('chunk store recovered after an unclean stop', {
      truncatedBytes: store.recovery.truncatedBytes,
      lostChunks: store.recovery.lostChunks.length,
    });
  }
  const scope = createChunkScope(join(layout.root, 'scope.db'));
  const gcLock = createRwLock();
  const metrics = createControllerMetrics();
  // Uploads are verified on the cores the main thread does not use (one at least, four at most).
  const cores = availableParallelism();
  const ingest = createIngest({ store, catalog, scope, gcLock, clock, verifyThreads: cores < 2 ? 0 : Math.min(4, cores - 1) });
  const context: ControllerContext = {
    site,
    ca,
    caFingerprint,
    catalog,
    store,
    scope,
    gcLock,
    ingest,
    enrollment: createEnrollment({ catalog, ca, caFingerprint, clock }),
    callers: createCallerResolver({
      catalog,
      siteCaPem: caPem,
      trustedCaPems: () => [caPem, ...catalog.listPeerSites().map((p) => p.caPem)],
    }),
    sessions: createSessionHub(),
    jobs: createJobRunner({ catalog, clock, logger }),
    metrics,
    clock,
    logger,
  };

  const server = await startHavenServer({
    listen: options.listen,
    credentials: createServerCredentials({
      trustedCaPems: [caPem, ...catalog.listPeerSites().map((p) => p.caPem)],
      certPem: readPem(layout.serverCert),
      caPem,
      keyPem: readPem(layout.serverKey),
    }),
    reflectionFiles: [file_haven_v1_agent, file_haven_v1_admin, file_haven_v1_replication],
    services: [
      service(AgentService, createAgentService(context)),
      service(AdminService, createAdminService(context)),
      service(ReplicationService, {}),
    ],
  });
  const metricsServer = options.metricsListen === undefined ? undefined : await serveMetrics(metrics, options.metricsListen);
  writeFileAtomic(layout.addressFile, `${server.address}\n`);
  logger.info('listening', { address: server.address, site: site.siteName });
  return {
    site,
    layout,
    server,
    context,
    metricsAddress: metricsServer?.address,
    close: async () => {
      await metricsServer?.close();
      await server.close();
      await ingest.close();
      await store.sync();
      await store.close();
      scope.close();
      catalog.close();
    },
  };
}
