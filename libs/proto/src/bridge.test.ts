import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { addService } from './add-service.js';
import { createChannel } from './channel.js';
import { createClient, createConnection } from './create-client.js';
import type { Client } from './create-client.js';
import { DEFAULT_MAX_MESSAGE_BYTES, messageSizeOptions } from './message-size.js';
import { EncodedMessage } from './encoded-message.js';
import { createServiceDefinition } from './service-definition.js';
import { RpcError } from './status-codec.js';
import type { StatusCodec } from './status-codec.js';
import { AppError, bridgeTestImpl, createProbe, startServer } from './test-support/bridge-test-server.js';
import type { Probe, RunningServer } from './test-support/bridge-test-server.js';
import { BridgeTestService, ExchangeRequestSchema, Mode, UploadRequestSchema } from './test-gen/haven/testing/v1/bridge_test_pb.js';
import { create, toBinary } from '@bufbuild/protobuf';
import type { MessageInitShape } from '@bufbuild/protobuf';

const MiB = 1024 * 1024;
const insecure = grpc.credentials.createInsecure();

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not reached in time');
    await sleep(5);
  }
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

async function* iterate<T>(items: T[]): AsyncIterable<T> {
  for (const item of items) yield item;
}

function codeOf(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

describe('grpc-js <-> protobuf-es bridge', () => {
  let probe: Probe;
  let running: RunningServer;
  let connection: grpc.Client;
  let client: Client<typeof BridgeTestService>;

  beforeAll(async () => {
    probe = createProbe();
    running = await startServer((server) => addService(server, BridgeTestService, bridgeTestImpl(probe)), messageSizeOptions());
    connection = createConnection(running.address, insecure);
    client = createClient(BridgeTestService, connection);
  });

  afterAll(async () => {
    connection.close();
    await running.close();
  });

  afterEach(() => {
    probe.produced = 0;
    probe.consumed = 0;
    probe.aborts.length = 0;
    delete probe.readPause;
    delete probe.readPauseAfter;
  });

  it('makes a unary call with metadata, peer and trailers', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('x-test', 'hello');
    let trailers: grpc.Metadata | undefined;
    const response = await client.echo(
      { payload: new Uint8Array([1, 2, 3]) },
      { metadata, onTrailer: (t) => (trailers = t), timeoutMs: 5000 },
    );
    expect(response.$typeName).toBe('haven.testing.v1.EchoResponse');
    expect([...response.payload]).toEqual([1, 2, 3]);
    expect(response.metadataValue).toBe('hello');
    expect(response.peer).toMatch(/127\.0\.0\.1:\d+/);
    expect(response.servedAt?.seconds).toBeGreaterThan(0n);
    expect(trailers?.get('x-echo-trailer')).toEqual(['done']);
  });

  it('streams server responses', async () => {
    const indexes: number[] = [];
    for await (const message of client.download({ control: { count: 5, size: 1000 } })) {
      expect(message.payload.length).toBe(1000);
      indexes.push(message.index);
    }
    expect(indexes).toEqual([0, 1, 2, 3, 4]);
  });

  it('streams client requests', async () => {
    const requests = [1, 2, 3, 4].map((n) => ({ payload: new Uint8Array(n * 100) }));
    const response = await client.upload(iterate(requests));
    expect(response.count).toBe(4);
    expect(response.totalBytes).toBe(1000n);
  });

  it('sends pre-encoded requests as they are, and refuses one encoded for another message', async () => {
    const encoded = [1, 2].map((n) => new EncodedMessage(UploadRequestSchema, toBinary(UploadRequestSchema, create(UploadRequestSchema, { payload: new Uint8Array(n * 100) }))));
    const response = await client.upload(iterate([...encoded, { payload: new Uint8Array(300) }]));
    expect(response.count).toBe(3);
    expect(response.totalBytes).toBe(600n);
    const wrong = new EncodedMessage(ExchangeRequestSchema, new Uint8Array(0)) as unknown as EncodedMessage<typeof UploadRequestSchema>;
    const err = await rejectionOf(client.upload(iterate([wrong])));
    expect(codeOf(err)).toBe(grpc.status.INTERNAL);
  });

  it('streams both ways', async () => {
    const payloads = ['a', 'bb', 'ccc'].map((s) => new TextEncoder().encode(s));
    const received: string[] = [];
    for await (const message of client.exchange(iterate(payloads.map((payload) => ({ payload }))))) {
      received.push(`${message.index}:${new TextDecoder().decode(message.payload)}`);
    }
    expect(received).toEqual(['0:a', '1:bb', '2:ccc']);
  });

  it('answers pushes into a channel as a bidi request stream', async () => {
    const requests = createChannel<MessageInitShape<typeof ExchangeRequestSchema>>();
    const responses = client.exchange(requests)[Symbol.asyncIterator]();
    requests.push({ payload: new Uint8Array([7]) });
    const first = await responses.next();
    expect(first.done).toBe(false);
    expect(first.value && [...first.value.payload]).toEqual([7]);
    requests.push({ payload: new Uint8Array([8]) });
    const second = await responses.next();
    expect(second.value && [...second.value.payload]).toEqual([8]);
    requests.close();
    expect((await responses.next()).done).toBe(true);
  });

  it('carries a 3 MiB message both ways', async () => {
    const payload = new Uint8Array(3 * MiB);
    for (let i = 0; i < payload.length; i += 4096) payload[i] = i & 0xff;
    const response = await client.echo({ payload });
    expect(response.payload.length).toBe(3 * MiB);
    expect(Buffer.compare(Buffer.from(response.payload), Buffer.from(payload))).toBe(0);
  });

  it('carries messages above grpc-js default 4 MiB limit with the shared size options', async () => {
    const response = await client.echo({ payload: new Uint8Array(6 * MiB) });
    expect(response.payload.length).toBe(6 * MiB);
    expect(DEFAULT_MAX_MESSAGE_BYTES).toBe(16 * MiB);
  });

  it('refuses an oversized request with RESOURCE_EXHAUSTED', async () => {
    const small = await startServer(
      (server) => addService(server, BridgeTestService, bridgeTestImpl(createProbe())),
      messageSizeOptions(MiB),
    );
    const conn = createConnection(small.address, insecure);
    try {
      const err = await rejectionOf(createClient(BridgeTestService, conn).echo({ payload: new Uint8Array(2 * MiB) }));
      expect(codeOf(err)).toBe(grpc.status.RESOURCE_EXHAUSTED);
    } finally {
      conn.close();
      await small.close();
    }
  });

  it('answers a request that does not decode with INVALID_ARGUMENT', async () => {
    const raw = new grpc.Client(running.address, insecure);
    try {
      const err = await new Promise<grpc.ServiceError | null>((resolve) => {
        raw.makeUnaryRequest(
          '/haven.testing.v1.BridgeTestService/Echo',
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), // field 1, length far past the end
          new grpc.Metadata(),
          {},
          (e) => resolve(e),
        );
      });
      expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err?.details).toMatch(/malformed haven\.testing\.v1\.EchoRequest/);
    } finally {
      raw.close();
    }
  });

  it('answers UNIMPLEMENTED for a method the implementation leaves out', async () => {
    const err = await rejectionOf(client.missing({}));
    expect(codeOf(err)).toBe(grpc.status.UNIMPLEMENTED);
    expect((err as grpc.ServiceError).details).toMatch(/BridgeTestService\/Missing/);
  });

  it('keeps a thrown status code and maps other errors to INTERNAL with the default codec', async () => {
    const notFound = await rejectionOf(client.echo({ control: { failCode: grpc.status.NOT_FOUND, failMessage: 'no such set' } }));
    expect(codeOf(notFound)).toBe(grpc.status.NOT_FOUND);
    expect((notFound as grpc.ServiceError).details).toBe('no such set');
    const plain = await rejectionOf(client.echo({ control: { failMessage: 'plain:disk on fire' } }));
    expect(codeOf(plain)).toBe(grpc.status.INTERNAL);
    expect((plain as grpc.ServiceError).details).toBe('disk on fire');
  });

  it('ends a server stream with the handler error after the messages already sent', async () => {
    const received: number[] = [];
    const err = await rejectionOf(
      (async () => {
        for await (const m of client.download({ control: { count: 5, failCode: grpc.status.ABORTED } })) received.push(m.index);
      })(),
    );
    expect(received).toEqual([0, 1]);
    expect(codeOf(err)).toBe(grpc.status.ABORTED);
  });

  it('fails with DEADLINE_EXCEEDED and aborts the handler signal when the deadline passes', async () => {
    const started = Date.now();
    const err = await rejectionOf(client.echo({ control: { sleepMs: 5000 } }, { timeoutMs: 150 }));
    expect(codeOf(err)).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(2000);
    await until(() => probe.aborts.length > 0);
    expect(probe.aborts).toEqual([{ method: 'Echo', code: grpc.status.DEADLINE_EXCEEDED }]);
  });

  it('honours an absolute deadline too', async () => {
    const err = await rejectionOf(client.echo({ control: { sleepMs: 5000 } }, { deadline: new Date(Date.now() + 100) }));
    expect(codeOf(err)).toBe(grpc.status.DEADLINE_EXCEEDED);
    await until(() => probe.aborts.length > 0);
    expect(probe.aborts).toEqual([{ method: 'Echo', code: grpc.status.DEADLINE_EXCEEDED }]);
  });

  it('cancels the call when the caller breaks out of a server stream', async () => {
    let seen = 0;
    for await (const message of client.download({ control: { count: 1000, sleepMs: 5 } })) {
      seen = message.index + 1;
      if (seen === 3) break;
    }
    expect(seen).toBe(3);
    await until(() => probe.aborts.length > 0);
    expect(probe.aborts).toEqual([{ method: 'Download', code: grpc.status.CANCELLED }]);
    await sleep(50);
    expect(probe.produced).toBeLessThan(20);
  });

  it('cancels a bidi call when the caller aborts its signal', async () => {
    const requests = createChannel<MessageInitShape<typeof ExchangeRequestSchema>>();
    const controller = new AbortController();
    const responses = client.exchange(requests, { signal: controller.signal })[Symbol.asyncIterator]();
    requests.push({ payload: new Uint8Array([1]) });
    expect((await responses.next()).done).toBe(false);
    requests.push({ control: { sleepMs: 5000 } }); // the handler is busy when the cancel arrives
    await until(() => probe.consumed === 2);
    controller.abort();
    const err = await rejectionOf(responses.next());
    expect(codeOf(err)).toBe(grpc.status.CANCELLED);
    await until(() => probe.aborts.length > 0);
    expect(probe.aborts).toEqual([{ method: 'Exchange', code: grpc.status.CANCELLED }]);
    // The request producer is told to stop: the channel sees its consumer leave.
    await until(() => requests.detached);
  });

  it('rejects a client stream with the request source error and cancels the call', async () => {
    async function* failing(): AsyncIterable<MessageInitShape<typeof UploadRequestSchema>> {
      yield { payload: new Uint8Array(1), control: { sleepMs: 5000 } };
      await until(() => probe.consumed === 1);
      throw new Error('source broke');
    }
    const err = await rejectionOf(client.upload(failing()));
    expect((err as Error).message).toBe('source broke');
    await until(() => probe.aborts.length > 0);
    expect(probe.aborts).toEqual([{ method: 'Upload', code: grpc.status.CANCELLED }]);
  });

  it('server writer waits for drain: a slow bidi consumer bounds how far the producer runs ahead', async () => {
    const size = 256 * 1024;
    const total = 400; // 100 MiB if nothing held the producer back
    const requests = createChannel<MessageInitShape<typeof ExchangeRequestSchema>>();
    requests.push({ control: { count: total, size } });
    requests.close();
    let consumed = 0;
    let maxAhead = 0;
    for await (const message of client.exchange(requests)) {
      expect(message.payload.length).toBe(size);
      consumed++;
      if (consumed === 10) await sleep(300); // the consumer stalls; the producer must too
      if (consumed % 50 === 0) await sleep(20);
      maxAhead = Math.max(maxAhead, probe.produced - consumed);
    }
    expect(consumed).toBe(total);
    // Server stream buffer (16) + HTTP/2 windows + client read buffer (16), in messages.
    expect(maxAhead).toBeLessThanOrEqual(64);
    expect(maxAhead * size).toBeLessThan(64 * MiB);
  });

  it('client writer waits for drain: a slow server reader bounds how far the request source runs ahead', async () => {
    const size = 256 * 1024;
    const total = 300;
    let pulled = 0;
    let release: () => void = () => undefined;
    probe.readPauseAfter = 5;
    probe.readPause = new Promise<void>((resolve) => (release = resolve));
    async function* source(): AsyncIterable<MessageInitShape<typeof UploadRequestSchema>> {
      const payload = new Uint8Array(size);
      for (let i = 0; i < total; i++) {
        pulled++;
        yield { payload };
      }
    }
    const done = client.upload(source());
    await sleep(300); // the server is stalled after 5 messages
    const aheadWhileStalled = pulled - probe.consumed;
    expect(probe.consumed).toBe(5);
    expect(aheadWhileStalled).toBeLessThanOrEqual(64);
    release();
    const response = await done;
    expect(response.count).toBe(total);
    expect(pulled).toBe(total);
  });

  it('works with grpc-js makeGenericClientConstructor over the same definition', async () => {
    const Ctor = grpc.makeGenericClientConstructor(createServiceDefinition(BridgeTestService), 'BridgeTestService');
    const generic = new Ctor(running.address, insecure);
    try {
      const typed = createClient(BridgeTestService, generic);
      const response = await typed.echo({ payload: new Uint8Array([9]) });
      expect([...response.payload]).toEqual([9]);
      const viaGrpc = await new Promise<unknown>((resolve, reject) =>
        (generic as unknown as Record<string, (req: unknown, cb: (e: unknown, r: unknown) => void) => void>)
          .echo!({ payload: new Uint8Array([4]) }, (e, r) => (e ? reject(e) : resolve(r))),
      );
      expect([...(viaGrpc as { payload: Uint8Array }).payload]).toEqual([4]);
    } finally {
      generic.close();
    }
  });

  it('passes a generator mode enum through', async () => {
    const got: number[] = [];
    for await (const m of client.download({ control: { count: 3 }, mode: Mode.ECHO })) got.push(m.payload[0] ?? -1);
    expect(got).toEqual([0, 1, 2]);
  });
});

describe('error codec', () => {
  it('calls toStatus on the server and fromStatus on the client', async () => {
    const seen: { toStatus: unknown[]; fromStatus: grpc.ServiceError[] } = { toStatus: [], fromStatus: [] };
    const codec: StatusCodec = {
      toStatus(err) {
        seen.toStatus.push(err);
        const metadata = new grpc.Metadata();
        if (err instanceof AppError) {
          metadata.set('x-app-code', err.appCode);
          return { code: grpc.status.FAILED_PRECONDITION, details: err.message, metadata };
        }
        return { code: grpc.status.INTERNAL, details: 'internal' };
      },
      fromStatus(err) {
        seen.fromStatus.push(err);
        const appCode = err.metadata.get('x-app-code')[0];
        return typeof appCode === 'string' ? new AppError(appCode, err.details) : err;
      },
    };
    const running = await startServer((server) => addService(server, BridgeTestService, bridgeTestImpl(createProbe()), { codec }));
    const conn = createConnection(running.address, insecure);
    try {
      const client = createClient(BridgeTestService, conn, { codec });
      const err = await rejectionOf(client.echo({ control: { failMessage: 'app:FENCED' } }));
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).appCode).toBe('FENCED');
      expect((err as AppError).message).toBe('application failure');
      expect(seen.toStatus).toHaveLength(1);
      expect(seen.toStatus[0]).toBeInstanceOf(AppError);
      expect(seen.fromStatus.map((e) => e.code)).toEqual([grpc.status.FAILED_PRECONDITION]);

      // Bridge-made statuses (UNIMPLEMENTED) do not go through toStatus, but the client still maps them.
      const unimplemented = await rejectionOf(client.missing({}));
      expect(codeOf(unimplemented)).toBe(grpc.status.UNIMPLEMENTED);
      expect(seen.toStatus).toHaveLength(1);
      expect(seen.fromStatus).toHaveLength(2);

      // Streaming errors go through the codec too.
      const streamErr = await rejectionOf(
        (async () => {
          const requests = iterate<MessageInitShape<typeof ExchangeRequestSchema>>([{ control: { failMessage: 'app:CORRUPT' } }]);
          for await (const _ of client.exchange(requests)) void _;
        })(),
      );
      expect((streamErr as AppError).appCode).toBe('CORRUPT');
    } finally {
      conn.close();
      await running.close();
    }
  });

  it('never reports a failed handler as OK', async () => {
    const codec: StatusCodec = {
      toStatus: () => ({ code: grpc.status.OK, details: 'oops' }),
      fromStatus: (err) => err,
    };
    const running = await startServer((server) => addService(server, BridgeTestService, bridgeTestImpl(createProbe()), { codec }));
    const conn = createConnection(running.address, insecure);
    try {
      const err = await rejectionOf(createClient(BridgeTestService, conn).echo({ control: { failMessage: 'plain:x' } }));
      expect(codeOf(err)).toBe(grpc.status.UNKNOWN);
    } finally {
      conn.close();
      await running.close();
    }
  });

  it('exposes RpcError status fields', () => {
    const err = new RpcError(grpc.status.NOT_FOUND, 'gone');
    expect(err.toStatus()).toMatchObject({ code: grpc.status.NOT_FOUND, details: 'gone' });
    expect(err.message).toBe('gone');
  });
});
