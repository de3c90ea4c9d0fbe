#!/usr/bin/env node
import { HavenError } from '@haven/core';
import { createLogger, formatOptions, parseCommandLine, runMain } from '@haven/runtime';
import { startController } from '../controller.js';
import { initSite } from '../site/init-site.js';
import { createStorageKeys } from '../store/storage-key.js';

const DEFAULT_LISTEN = '127.0.0.1:7443';

const options = {
  data: { type: 'string', value: 'DIR', description: 'controller data directory' },
  site: { type: 'string', value: 'NAME', description: 'site name (init)' },
  listen: { type: 'string', value: 'HOST:PORT', description: `address to serve on (default ${DEFAULT_LISTEN}; port 0 picks a free port)` },
  metrics: { type: 'string', value: 'HOST:PORT', description: 'Prometheus metrics address (serve)' },
  json: { type: 'boolean', description: 'print results as JSON' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
} as const;

const HELP = `haven-controller: the Haven site controller

Usage:
  haven-controller init --data DIR --site NAME
      Create the data directory: site identity, site CA, server certificate, the local
      admin credential (used by \`haven --data DIR\`) and the storage encryption keys.
  haven-controller serve --data DIR [--listen HOST:PORT] [--metrics HOST:PORT]
      Serve the site: AgentService, AdminService, ReplicationService, grpc.health.v1 and
      server reflection on one mutual-TLS port. Prints one JSON line when ready.

Options:
${formatOptions(options)}
`;

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new HavenError('INVALID_ARGUMENT', `missing --${flag}`);
  return value;
}

runMain('haven-controller', async () => {
  const { values, positionals } = parseCommandLine(process.argv.slice(2), options);
  const verb = positionals[0];
  if (values.help === true || verb === undefined || verb === 'help') {
    process.stdout.write(HELP);
    return verb === undefined && values.help !== true ? 2 : 0;
  }
  if (positionals.length > 1) throw new HavenError('INVALID_ARGUMENT', `unexpected argument "${positionals[1]}"`);
  if (verb === 'init') {
    const result = await initSite({
      dataDir: required(values.data, 'data'),
      siteName: required(values.site, 'site'),
      createStorageKeys,
    });
    const summary = { site: result.site.siteName, siteId: result.site.siteId, dataDir: result.layout.root, caFingerprint: result.caFingerprint };
    process.stdout.write(
      values.json === true
        ? `${JSON.stringify(summary)}\n`
        : `initialized site ${summary.site} in ${summary.dataDir}\nCA fingerprint (sha256): ${summary.caFingerprint}\n`,
    );
    return 0;
  }
  if (verb === 'serve') {
    const logger = createLogger({ name: 'haven-controller' });
    const controller = await startController({
      dataDir: required(values.data, 'data'),
      listen: values.listen ?? DEFAULT_LISTEN,
      logger,
      ...(values.metrics === undefined ? {} : { metricsListen: values.metrics }),
    });
    // The readiness line harnesses and scripts wait for (logs go to stderr).
    process.stdout.write(
      `${JSON.stringify({ event: 'listening', address: controller.server.address, site: controller.site.siteName, ...(controller.metricsAddress === undefined ? {} : { metrics: controller.metricsAddress }) })}\n`,
    );
    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        logger.info('shutting down', { signal });
        void controller.close().then(resolve);
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    return 0;
  }
  throw new HavenError('INVALID_ARGUMENT', `unknown command "${verb}" (try --help)`);
});
