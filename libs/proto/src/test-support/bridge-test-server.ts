import * as grpc from '@grpc/grpc-js';
import { timestampNow } from '@bufbuild/protobuf/wkt';

import type { HandlerContext, ServiceImpl } from '../add-service.js';
import { RpcError } from '../status-codec.js';
import { Mode } from '../test-gen/haven/testing/v1/bridge_test_pb.js';
import type { BridgeTestService, Control } from '../test-gen/haven/testing/v1/bridge_test_pb.js';

export interface RunningServer {
  readonly server: grpc.Server;
  readonly address: string;
  close(): Promise<void>;
}

/** Starts a real grpc-js server on 127.0.0.1 with an ephemeral port. */
export async function startServer(setup: (server: grpc.Server) => void, options: grpc.ServerOptions = {}): Promise<RunningServer> {
  const server = new grpc.Server(options);
  setup(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return {
    server,
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}

/** What the test server observed, for assertions. */
export interface Probe {
  /** Messages the server's response producer yielded (pulled by the bridge's writer). */
  produced: number;
  /** Request messages the server consumed from a request stream. */
  consumed: number;
  /** Handler signals that aborted, with the reason's status code. */
  aborts: Array<{ method: string; code: number | undefined }>;
  /** Server-side pause before reading further requests (client back-pressure test). */
  readPauseAfter?: number;
  readPause?: Promise<void>;
}

export function createProbe(): Probe {
  return { produced: 0, consumed: 0, aborts: [] };
}

function watchAbort(ctx: HandlerContext, probe: Probe): void {
  ctx.signal.addEventListener('abort', () => {
    const reason: unknown = ctx.signal.reason;
    probe.aborts.push({ method: ctx.method.name, code: reason instanceof RpcError ? reason.code : undefined });
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** An error type of "the application", mapped by the custom codec in the tests. */
export class AppError extends Error {
  constructor(
    readonly appCode: string,
    message: string,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

async function obey(control: Control | undefined, ctx: HandlerContext): Promise<void> {
  if (!control) return;
  if (control.sleepMs > 0) await sleep(control.sleepMs, ctx.signal);
  if (control.failCode > 0) throw new RpcError(control.failCode, control.failMessage || 'requested failure');
  if (control.failMessage.startsWith('app:')) throw new AppError(control.failMessage.slice(4), 'application failure');
  if (control.failMessage.startsWith('plain:')) throw new Error(control.failMessage.slice(6));
}

/** The test service; `missing` is deliberately left out. */
export function bridgeTestImpl(probe: Probe): Partial<ServiceImpl<typeof BridgeTestService>> {
  return {
    async echo(request, ctx) {
      watchAbort(ctx, probe);
      ctx.responseTrailers.set('x-echo-trailer', 'done');
      await obey(request.control, ctx);
      return {
        payload: request.payload,
        servedAt: timestampNow(),
        peer: ctx.peer,
        metadataValue: String(ctx.metadata.get('x-test')[0] ?? ''),
      };
    },
    async *download(request, ctx) {
      watchAbort(ctx, probe);
      const control = request.control;
      const count = control?.count ?? 0;
      const payload = new Uint8Array(control?.size ?? 0);
      for (let index = 0; index < count; index++) {
        if (control && control.sleepMs > 0) await sleep(control.sleepMs, ctx.signal);
        if (control && control.failCode > 0 && index === 2) {
          throw new RpcError(control.failCode, control.failMessage || 'failure mid-stream');
        }
        probe.produced++;
        yield { payload: request.mode === Mode.ECHO ? new Uint8Array([index & 0xff]) : payload, index };
      }
    },
    async upload(requests, ctx) {
      watchAbort(ctx, probe);
      let count = 0;
      let totalBytes = 0n;
      for await (const request of requests) {
        count++;
        probe.consumed++;
        totalBytes += BigInt(request.payload.length);
        if (probe.readPauseAfter === count && probe.readPause) await probe.readPause;
        await obey(request.control, ctx);
      }
      return { count, totalBytes };
    },
    async *exchange(requests, ctx) {
      watchAbort(ctx, probe);
      let index = 0;
      for await (const request of requests) {
        probe.consumed++;
        const control = request.control;
        if (control && control.count > 0) {
          // Generator mode: produce `count` messages of `size` bytes as fast as the
          // transport lets us (back-pressure tests watch `produced`).
          const payload = new Uint8Array(control.size);
          for (let i = 0; i < control.count; i++) {
            probe.produced++;
            yield { payload, index: index++ };
          }
          continue;
        }
        await obey(control, ctx);
        yield { payload: request.payload, index: index++ };
      }
    },
  };
}
