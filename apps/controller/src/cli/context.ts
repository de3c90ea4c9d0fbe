import { systemClock } from '@haven/core';
import type { Clock } from '@haven/core';
import { AdminService } from '@haven/proto';
import type { CallOptions, Client } from '@haven/proto';
import { connectHaven } from '@haven/transport';
import type { HavenConnection } from '@haven/transport';
import type { CliIo } from './cli-io.js';
import { resolveConnectionConfig } from './connection-config.js';

export type AdminClient = Client<typeof AdminService>;

/** Deadline of every unary Admin call: they answer at once (long work runs as jobs). */
export const UNARY_TIMEOUT_MS = 60_000;

/** What a command gets: its streams, the output mode, and the Admin API on first use. */
export interface CliContext {
  readonly io: CliIo;
  /** `--json`: print Admin API messages in canonical JSON instead of tables. */
  readonly json: boolean;
  readonly clock: Clock;
  /** The Admin client; connects on the first call, so usage errors never need a controller. */
  admin(): AdminClient;
  close(): void;
}

export function createCliContext(
  globals: { controller?: string | undefined; data?: string | undefined; json?: boolean | undefined },
  io: CliIo,
  clock: Clock = systemClock,
): CliContext {
  let connection: HavenConnection | undefined;
  let client: AdminClient | undefined;
  return {
    io,
    json: globals.json === true,
    clock,
    admin() {
      if (client === undefined) {
        const config = resolveConnectionConfig(globals, io.env);
        connection = connectHaven(config.address, config.tls);
        client = withUnaryDeadline(connection.client(AdminService));
      }
      return client;
    },
    close() {
      connection?.close();
      connection = undefined;
      client = undefined;
    },
  };
}

/** The one place deadlines are set: unary calls get one, streams run as long as they need. */
function withUnaryDeadline(client: AdminClient): AdminClient {
  const raw = client as unknown as Record<string, (request: unknown, options?: CallOptions) => unknown>;
  const wrapped: Record<string, unknown> = {};
  for (const method of AdminService.methods) {
    const fn = raw[method.localName]!;
    wrapped[method.localName] =
      method.methodKind === 'unary' ? (request: unknown, options?: CallOptions) => fn(request, { timeoutMs: UNARY_TIMEOUT_MS, ...options }) : fn;
  }
  return wrapped as unknown as AdminClient;
}
