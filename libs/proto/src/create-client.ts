import { Client as GrpcClient, Metadata } from '@grpc/grpc-js';
import type {
  CallOptions as GrpcCallOptions,
  ChannelCredentials,
  ClientOptions as GrpcClientOptions,
  ServiceError,
  StatusObject,
} from '@grpc/grpc-js';
import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import type { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';

import type {
  DescMethodBiDiStreaming,
  DescMethodClientStreaming,
  DescMethodServerStreaming,
  DescMethodUnary,
} from './method-types.js';
import { methodPath } from './method-types.js';
import { messageSizeOptions } from './message-size.js';
import { deserializerOf, serializerOf } from './service-definition.js';
import { defaultStatusCodec } from './status-codec.js';
import type { StatusCodec } from './status-codec.js';
import { readAll, writeAll } from './stream-io.js';
import type { EncodedMessage } from './encoded-message.js';

/** Per-call options of a typed client method. */
export interface CallOptions {
  /** Absolute deadline: a Date or epoch milliseconds (grpc-js convention). */
  deadline?: Date | number;
  /** Relative deadline in milliseconds from the start of the call. */
  timeoutMs?: number;
  /** Cancels the call when aborted. */
  signal?: AbortSignal;
  /** Request metadata (headers). */
  metadata?: Metadata;
  /** Called with the response headers when they arrive. */
  onHeader?: (headers: Metadata) => void;
  /** Called with the response trailers when the call ends (before the result is delivered). */
  onTrailer?: (trailers: Metadata) => void;
}

/** A request: a message init object, or a message already encoded (see EncodedMessage). */
export type RequestOf<Desc extends DescMessage> = MessageInitShape<Desc> | EncodedMessage<Desc>;

export type UnaryFn<M extends DescMethodUnary> = (
  request: RequestOf<M['input']>,
  options?: CallOptions,
) => Promise<MessageShape<M['output']>>;

export type ServerStreamingFn<M extends DescMethodServerStreaming> = (
  request: RequestOf<M['input']>,
  options?: CallOptions,
) => AsyncIterable<MessageShape<M['output']>>;

export type ClientStreamingFn<M extends DescMethodClientStreaming> = (
  requests: AsyncIterable<RequestOf<M['input']>>,
  options?: CallOptions,
) => Promise<MessageShape<M['output']>>;

export type BiDiStreamingFn<M extends DescMethodBiDiStreaming> = (
  requests: AsyncIterable<RequestOf<M['input']>>,
  options?: CallOptions,
) => AsyncIterable<MessageShape<M['output']>>;

/** The client function for one method, chosen by its RPC shape. */
export type ClientMethod<M extends DescMethod> =
  M extends DescMethodUnary
    ? UnaryFn<M>
    : M extends DescMethodServerStreaming
      ? ServerStreamingFn<M>
      : M extends DescMethodClientStreaming
        ? ClientStreamingFn<M>
        : M extends DescMethodBiDiStreaming
          ? BiDiStreamingFn<M>
          : never;

/** A typed client: one async function per method, keyed by the methods' `localName`. */
export type Client<S extends DescService> = {
  readonly [K in keyof S['method']]: ClientMethod<S['method'][K]>;
};

export interface ClientOptions {
  /** Maps a failed call's ServiceError to the error callers see. Default: the ServiceError itself. */
  codec?: StatusCodec;
}

/**
 * A grpc-js client connection (one channel) to `address`, with Haven's message size
 * limits unless `options` overrides them. Several typed clients can share it; close
 * it with `connection.close()`.
 */
export function createConnection(address: string, credentials: ChannelCredentials, options: GrpcClientOptions = {}): GrpcClient {
  return new GrpcClient(address, credentials, { ...messageSizeOptions(), ...options });
}

/**
 * A typed client for `service` over `connection` (from `createConnection`, or any
 * grpc-js client, e.g. one from `makeGenericClientConstructor`, whose channel it
 * reuses). Unary and client-streaming methods return promises; server-streaming and
 * bidi methods return async iterables that start the call when iterated, and
 * breaking out of the loop cancels the call. Request streams are pulled only as fast
 * as the transport accepts them.
 */
export function createClient<S extends DescService>(service: S, connection: GrpcClient, options: ClientOptions = {}): Client<S> {
  const codec = options.codec ?? defaultStatusCodec;
  const client: Record<string, unknown> = {};
  for (const method of service.methods) {
    client[method.localName] = methodFn(connection, method, codec);
  }
  return client as Client<S>;
}

function callOptionsOf(options: CallOptions | undefined): GrpcCallOptions {
  const deadlines: number[] = [];
  if (options?.deadline !== undefined) {
    deadlines.push(options.deadline instanceof Date ? options.deadline.getTime() : options.deadline);
  }
  if (options?.timeoutMs !== undefined) deadlines.push(Date.now() + options.timeoutMs);
  return deadlines.length > 0 ? { deadline: Math.min(...deadlines) } : {};
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number' && 'metadata' in err;
}

type CallEmitter = EventEmitter & { cancel(): void };

/**
 * Wires the per-call options to a grpc-js call: header/trailer callbacks, and
 * cancellation when `signal` aborts. Returns the function that detaches the signal.
 */
function attachCall(call: CallEmitter, options: CallOptions | undefined): () => void {
  // The status also arrives through the callback or the read loop; this listener only
  // keeps a late 'error' event (after the reader left) from becoming an uncaught error.
  call.on('error', () => undefined);
  const { onHeader, onTrailer, signal } = options ?? {};
  if (onHeader) call.on('metadata', (metadata: Metadata) => onHeader(metadata));
  if (onTrailer) call.on('status', (status: StatusObject) => onTrailer(status.metadata));
  if (!signal) return () => undefined;
  const onAbort = (): void => call.cancel();
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

function methodFn(connection: GrpcClient, method: DescMethod, codec: StatusCodec): unknown {
  const path = methodPath(method);
  const serialize = serializerOf(method.input);
  const deserialize = deserializerOf(method.output);
  const fail = (err: unknown): unknown => (isServiceError(err) ? codec.fromStatus(err) : err);

  switch (method.methodKind) {
    case 'unary':
      return (request: unknown, options?: CallOptions): Promise<unknown> =>
        new Promise((resolve, reject) => {
          let detach = (): void => undefined;
          const call = connection.makeUnaryRequest(
            path,
            serialize,
            deserialize,
            request,
            options?.metadata ?? new Metadata(),
            callOptionsOf(options),
            (err, response) => {
              detach();
              if (err) reject(fail(err));
              else resolve(response);
            },
          );
          detach = attachCall(call, options);
        });

    case 'server_streaming':
      return (request: unknown, options?: CallOptions): AsyncIterable<unknown> => ({
        async *[Symbol.asyncIterator]() {
          const call = connection.makeServerStreamRequest(
            path,
            serialize,
            deserialize,
            request,
            options?.metadata ?? new Metadata(),
            callOptionsOf(options),
          );
          const detach = attachCall(call, options);
          let finished = false;
          try {
            yield* readAll(call as unknown as Readable, (m) => m);
            finished = true;
          } catch (err) {
            finished = true;
            throw fail(err);
          } finally {
            detach();
            if (!finished) call.cancel();
          }
        },
      });

    case 'client_streaming':
      return (requests: AsyncIterable<unknown>, options?: CallOptions): Promise<unknown> =>
        new Promise((resolve, reject) => {
          const pump = new AbortController();
          let sourceError: { err: unknown } | undefined;
          let detach = (): void => undefined;
          const call = connection.makeClientStreamRequest(
            path,
            serialize,
            deserialize,
            options?.metadata ?? new Metadata(),
            callOptionsOf(options),
            (err, response) => {
              detach();
              pump.abort();
              if (sourceError) reject(sourceError.err);
              else if (err) reject(fail(err));
              else resolve(response);
            },
          );
          detach = attachCall(call, options);
          writeAll(call, requests, pump.signal).then(
            () => call.end(),
            (err: unknown) => {
              if (pump.signal.aborted) return;
              sourceError = { err };
              call.cancel();
            },
          );
        });

    case 'bidi_streaming':
      return (requests: AsyncIterable<unknown>, options?: CallOptions): AsyncIterable<unknown> => ({
        async *[Symbol.asyncIterator]() {
          const call = connection.makeBidiStreamRequest(path, serialize, deserialize, options?.metadata ?? new Metadata(), callOptionsOf(options));
          const detach = attachCall(call, options);
          const pump = new AbortController();
          let sourceError: { err: unknown } | undefined;
          writeAll(call, requests, pump.signal).then(
            () => call.end(),
            (err: unknown) => {
              if (pump.signal.aborted) return;
              sourceError = { err };
              call.cancel();
            },
          );
          let finished = false;
          try {
            yield* readAll(call as unknown as Readable, (m) => m);
            finished = true;
          } catch (err) {
            finished = true;
            throw sourceError ? sourceError.err : fail(err);
          } finally {
            detach();
            pump.abort();
            if (!finished) call.cancel();
          }
          // The server may have finished before the cancel for a failed request
          // stream reached it; the caller still learns its requests were not all sent.
          if (sourceError) throw sourceError.err;
        },
      });
  }
}
