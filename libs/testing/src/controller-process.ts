import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HavenError } from '@haven/core';
import { Health, HealthCheckResponse_ServingStatus } from '@haven/proto';
import { connectHaven } from '@haven/transport';
import type { HavenConnection } from '@haven/transport';
import { runNode, spawnNode } from './child-process-handle.js';
import type { SpawnedProcess } from './child-process-handle.js';
import { bins, requireBuilt } from './repo-paths.js';
import { makeTempDir } from './temp-dir.js';

export interface ControllerCredentials {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** A real `haven-controller serve` child process on a loopback port. */
export interface ControllerProcess {
  readonly dataDir: string;
  readonly site: string;
  /** `127.0.0.1:PORT`; stays the same across restarts so agents can reconnect. */
  readonly address: string;
  /** The Prometheus endpoint (`127.0.0.1:PORT`) when started with `metrics: true`. */
  readonly metricsAddress: string | undefined;
  /** Scrapes the metrics endpoint: sample name (with labels) -> value. */
  metrics(): Promise<Map<string, number>>;
  readonly process: SpawnedProcess;
  /** The local admin credential written by init. */
  readonly admin: ControllerCredentials;
  /** A new mTLS connection as the admin. */
  connect(): HavenConnection;
  /** Runs the `haven` CLI against this controller. */
  cli(args: string[], options?: { input?: string; env?: NodeJS.ProcessEnv }): Promise<{ code: number; stdout: string; stderr: string }>;
  kill(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals>;
  /** Starts the controller again on the same data dir and port (after kill). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 30_000;

export async function waitForServing(conn: HavenConnection, timeoutMs: number, service = ''): Promise<void> {
  const health = conn.client(Health);
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const res = await health.check({ service }, { timeoutMs: 2_000 });
      if (res.status === HealthCheckResponse_ServingStatus.SERVING) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new HavenError('UNAVAILABLE', `health of ${conn.address} not SERVING after ${timeoutMs} ms: ${String(last)}`);
}

/**
 * Inits a data dir (unless given one already initialized) and serves it, waiting until
 * the readiness line is printed and grpc.health.v1 answers SERVING over mTLS.
 */
export async function startControllerProcess(
  options: { site?: string; dataDir?: string; port?: number; env?: NodeJS.ProcessEnv; metrics?: boolean } = {},
): Promise<ControllerProcess> {
  const script = requireBuilt(bins.controller);
  const site = options.site ?? 'alpha';
  let dataDir = options.dataDir;
  if (dataDir === undefined) {
    dataDir = join(makeTempDir(`haven-ctl-${site}-`), 'data');
    const init = await runNode(script, ['init', '--data', dataDir, '--site', site]);
    if (init.code !== 0) throw new Error(`haven-controller init failed (${init.code}): ${init.stderr}`);
  }
  const admin: ControllerCredentials = {
    caPem: readFileSync(join(dataDir, 'tls/ca.pem'), 'utf8'),
    certPem: readFileSync(join(dataDir, 'tls/admin.pem'), 'utf8'),
    keyPem: readFileSync(join(dataDir, 'tls/admin.key'), 'utf8'),
  };
  const dir = dataDir;
  let port = options.port ?? 0;
  let proc: SpawnedProcess;
  let address = '';
  let metricsAddress: string | undefined;
  let metricsPort = 0;

  async function launch(): Promise<void> {
    const extra = options.metrics === true ? ['--metrics', `127.0.0.1:${metricsPort}`] : [];
    proc = spawnNode(script, ['serve', '--data', dir, '--listen', `127.0.0.1:${port}`, ...extra], { env: options.env ?? {} });
    const line = await proc.waitForLine((l) => l.includes('"event":"listening"'), READY_TIMEOUT_MS);
    const ready = JSON.parse(line) as { address: string; metrics?: string };
    address = ready.address;
    metricsAddress = ready.metrics;
    if (metricsAddress !== undefined) metricsPort = Number(metricsAddress.slice(metricsAddress.lastIndexOf(':') + 1));
    port = Number(address.slice(address.lastIndexOf(':') + 1));
    const conn = connectHaven(address, admin);
    try {
      await waitForServing(conn, READY_TIMEOUT_MS);
    } finally {
      conn.close();
    }
  }
  await launch();

  return {
    dataDir: dir,
    site,
    get address() {
      return address;
    },
    get process() {
      return proc;
    },
    get metricsAddress() {
      return metricsAddress;
    },
    async metrics() {
      if (metricsAddress === undefined) throw new Error('controller was started without metrics: true');
      const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
      const out = new Map<string, number>();
      for (const line of text.split('\n')) {
        if (line === '' || line.startsWith('#')) continue;
        const at = line.lastIndexOf(' ');
        out.set(line.slice(0, at), Number(line.slice(at + 1)));
      }
      return out;
    },
    admin,
    connect: () => connectHaven(address, admin),
    cli: (args, o = {}) =>
      runNode(requireBuilt(bins.cli), ['--controller', address, '--data', dir, ...args], {
        ...(o.input === undefined ? {} : { input: o.input }),
        env: o.env ?? {},
      }),
    kill: (signal = 'SIGKILL') => proc.kill(signal),
    restart: launch,
    stop: async () => {
      await proc.kill('SIGTERM');
    },
  };
}
