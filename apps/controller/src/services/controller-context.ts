import type { Clock } from '@haven/core';
import type { Logger } from '@haven/runtime';
import type { KeyPairPem } from '@haven/transport';
import type { Catalog } from '../catalog/catalog.js';
import type { CallerResolver } from '../rpc/caller.js';
import type { SiteIdentity } from '../site/data-dir.js';
import type { ChunkStore } from '../store/chunk-store.js';
import type { ChunkScope } from './chunk-scope.js';
import type { ControllerMetrics } from './controller-metrics.js';
import type { Enrollment } from './enrollment.js';
import type { Ingest } from './ingest.js';
import type { JobRunner } from './job-runner.js';
import type { RwLock } from './rw-lock.js';
import type { SessionHub } from './session-hub.js';

/** Everything the RPC handlers of one controller share; built once by `startController`. */
export interface ControllerContext {
  readonly site: SiteIdentity;
  readonly ca: KeyPairPem;
  readonly caFingerprint: string;
  readonly catalog: Catalog;
  readonly store: ChunkStore;
  readonly scope: ChunkScope;
  readonly gcLock: RwLock;
  readonly ingest: Ingest;
  readonly enrollment: Enrollment;
  readonly callers: CallerResolver;
  readonly sessions: SessionHub;
  readonly jobs: JobRunner;
  readonly metrics: ControllerMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
}
