import type { EncodedMessage } from './encoded-message.js';
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type {
  Server,
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  StatusObject,
  UntypedServiceImplementation,
  sendUnaryData,
} from '@grpc/grpc-js';
import type { DescMethod, DescService, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import type { PeerCertificate } from 'node:tls';
import type { Readable } from 'node:stream';

import type {
  DescMethodBiDiStreaming,
  DescMethodClientStreaming,
  DescMethodServerStreaming,
  DescMethodUnary,
} from './method-types.js';
import { methodPath } from './method-types.js';
import { MalformedMessage, methodDefinitionOf } from './service-definition.js';
import { defaultStatusCodec, RpcError } from './status-codec.js';
import type { StatusCodec } from './status-codec.js';
import { readAll, writeAll, writesSettled } from './stream-io.js';

/** What a handler knows about the call it serves. */
export interface HandlerContext {
  readonly service: DescService;
  readonly method: DescMethod;
  /** Request metadata (headers) sent by the client. */
  readonly metadata: Metadata;
  /** Peer address, e.g. `127.0.0.1:53122` or `ipv6:[::1]:53122`. */
  readonly peer: string;
  /** The client's certificate when the connection is mutual TLS and the certificate verified. */
  readonly peerCertificate: PeerCertificate | undefined;
  /**
   * Aborts when the client cancels, the connection drops, or the deadline passes.
   * The reason is an RpcError with CANCELLED or DEADLINE_EXCEEDED.
   */
  readonly signal: AbortSignal;
  /** The client's deadline, if it set one. */
  readonly deadline: Date | undefined;
  /** Trailing metadata sent with the final status (on success and on error). */
  readonly responseTrailers: Metadata;
  /** Sends response headers now (otherwise they go out with the first message). */
  sendHeaders(metadata: Metadata): void;
}

export type UnaryImpl<I extends DescMethodUnary> = (
  request: MessageShape<I['input']>,
  ctx: HandlerContext,
) => Promise<MessageInitShape<I['output']>> | MessageInitShape<I['output']>;

export type ServerStreamingImpl<M extends DescMethodServerStreaming> = (
  request: MessageShape<M['input']>,
  ctx: HandlerContext,
) => AsyncIterable<MessageInitShape<M['output']> | EncodedMessage<M['output']>>;

/**
 * Request streams end when the client half-closes. A grpc-js client that cancels
 * half-closes first and resets the stream a moment later, so the end of a request
 * stream alone never proves the client meant "done": commit on an explicit message,
 * and watch `ctx.signal`, which aborts as soon as the reset arrives.
 */
export type ClientStreamingImpl<M extends DescMethodClientStreaming> = (
  requests: AsyncIterable<MessageShape<M['input']>>,
  ctx: HandlerContext,
) => Promise<MessageInitShape<M['output']>>;

export type BiDiStreamingImpl<M extends DescMethodBiDiStreaming> = (
  requests: AsyncIterable<MessageShape<M['input']>>,
  ctx: HandlerContext,
) => AsyncIterable<MessageInitShape<M['output']> | EncodedMessage<M['output']>>;

/** The handler type for one method, chosen by its RPC shape. */
export type MethodImpl<M extends DescMethod> =
  M extends DescMethodUnary
    ? UnaryImpl<M>
    : M extends DescMethodServerStreaming
      ? ServerStreamingImpl<M>
      : M extends DescMethodClientStreaming
        ? ClientStreamingImpl<M>
        : M extends DescMethodBiDiStreaming
          ? BiDiStreamingImpl<M>
          : never;

/** Handlers for every method of a service, keyed by the methods' `localName`. */
export type ServiceImpl<S extends DescService> = {
  [K in keyof S['method']]: MethodImpl<S['method'][K]>;
};

export interface AddServiceOptions {
  /** Maps handler errors to statuses. Default: `defaultStatusCodec`. */
  codec?: StatusCodec;
}

const registered = new WeakMap<Server, DescService[]>();

/** Services added to `server` through `addService`, in registration order. */
export function registeredServices(server: Server): readonly DescService[] {
  return registered.get(server) ?? [];
}

/**
 * Registers a protobuf-es service on a grpc-js server with async handlers. Methods
 * missing from `impl` answer UNIMPLEMENTED, so a partial implementation is fine.
 * Requests that fail to decode answer INVALID_ARGUMENT; handler errors go through
 * `options.codec`; streamed responses are written with back-pressure.
 */
export function addService<S extends DescService>(
  server: Server,
  service: S,
  impl: Partial<ServiceImpl<S>>,
  options: AddServiceOptions = {},
): void {
  const codec = options.codec ?? defaultStatusCodec;
  const definition: Record<string, ReturnType<typeof methodDefinitionOf>> = {};
  const handlers: UntypedServiceImplementation = {};
  const table = impl as Record<string, unknown>;
  for (const method of service.methods) {
    definition[method.localName] = methodDefinitionOf(method, { tolerantRequests: true });
    const fn = table[method.localName];
    handlers[method.localName] =
      typeof fn === 'function'
        ? bindHandler(service, method, fn.bind(impl) as AnyHandler, codec)
        : unimplementedHandler(method);
  }
  server.addService(definition, handlers);
  const list = registered.get(server) ?? [];
  list.push(service);
  registered.set(server, list);
}

/** The part of every grpc-js server call the bridge uses (grpc-js does not export its own). */
interface ServerSurfaceCall {
  readonly cancelled: boolean;
  readonly metadata: Metadata;
  getPeer(): string;
  getDeadline(): Date | number;
  getAuthContext(): { sslPeerCertificate?: PeerCertificate | undefined };
  sendMetadata(metadata: Metadata): void;
  on(event: 'cancelled', listener: () => void): unknown;
  off(event: 'cancelled', listener: () => void): unknown;
}

type AnyHandler = (input: unknown, ctx: HandlerContext) => unknown;
type GrpcHandler = UntypedServiceImplementation[string];

function unimplementedHandler(method: DescMethod): GrpcHandler {
  const status = { code: GrpcStatus.UNIMPLEMENTED, details: `method ${methodPath(method)} is not implemented` };
  switch (method.methodKind) {
    case 'unary':
    case 'client_streaming':
      return (_call: ServerSurfaceCall, callback: sendUnaryData<unknown>) => callback(status);
    case 'server_streaming':
    case 'bidi_streaming':
      return (call: ServerWritableStream<unknown, unknown>) => call.emit('error', status);
  }
}

function checkRequest(value: unknown): unknown {
  if (value instanceof MalformedMessage) throw new RpcError(GrpcStatus.INVALID_ARGUMENT, value.message);
  return value;
}

interface CallScope {
  ctx: HandlerContext;
  /** Detaches cancellation listeners and timers once the handler has settled. */
  dispose(): void;
}

/**
 * A client whose deadline passes cancels the call itself, and that cancel can reach
 * the server just before the server's copy of the deadline (taken when the headers
 * arrived, so slightly later) expires. A cancel this close to the deadline is the
 * deadline.
 */
const DEADLINE_SKEW_MS = 100;

function openScope(service: DescService, method: DescMethod, call: ServerSurfaceCall): CallScope {
  const controller = new AbortController();
  const rawDeadline = call.getDeadline();
  const deadlineMs = rawDeadline instanceof Date ? rawDeadline.getTime() : rawDeadline;
  const deadline = Number.isFinite(deadlineMs) ? new Date(deadlineMs) : undefined;
  const abort = (code: GrpcStatus, details: string): void => {
    if (!controller.signal.aborted) controller.abort(new RpcError(code, details));
  };
  const onCancelled = (): void => {
    if (deadline && Date.now() >= deadline.getTime() - DEADLINE_SKEW_MS) abort(GrpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded');
    else abort(GrpcStatus.CANCELLED, 'call cancelled');
  };
  call.on('cancelled', onCancelled);
  if (call.cancelled) onCancelled();
  // grpc-js ends the call at the deadline too; this timer makes the signal fire on
  // time and with the right reason even before the transport notices.
  let timer: NodeJS.Timeout | undefined;
  if (deadline) {
    timer = setTimeout(() => abort(GrpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded'), Math.max(0, deadline.getTime() - Date.now()));
    timer.unref();
  }
  const responseTrailers = new Metadata();
  let peerCertificate: PeerCertificate | undefined | null = null;
  const ctx: HandlerContext = {
    service,
    method,
    metadata: call.metadata,
    get peer() {
      return call.getPeer();
    },
    get peerCertificate() {
      if (peerCertificate === null) peerCertificate = call.getAuthContext().sslPeerCertificate;
      return peerCertificate ?? undefined;
    },
    signal: controller.signal,
    deadline,
    responseTrailers,
    sendHeaders(metadata: Metadata): void {
      call.sendMetadata(metadata);
    },
  };
  return {
    ctx,
    dispose(): void {
      if (timer) clearTimeout(timer);
      call.off('cancelled', onCancelled);
    },
  };
}

function errorStatus(err: unknown, codec: StatusCodec, ctx: HandlerContext): StatusObject {
  let status;
  try {
    status = err instanceof RpcError ? err.toStatus() : codec.toStatus(err);
  } catch (codecErr) {
    status = { code: GrpcStatus.INTERNAL, details: `error codec failed: ${String(codecErr)}` };
  }
  const metadata = new Metadata();
  metadata.merge(ctx.responseTrailers);
  if (status.metadata) metadata.merge(status.metadata);
  // A failed handler must never look like success to the client.
  const code = status.code === GrpcStatus.OK ? GrpcStatus.UNKNOWN : status.code;
  return { code, details: status.details, metadata };
}

function bindHandler(service: DescService, method: DescMethod, fn: AnyHandler, codec: StatusCodec): GrpcHandler {
  switch (method.methodKind) {
    case 'unary':
      return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const { ctx, dispose } = openScope(service, method, call);
        settle(
          async () => fn(checkRequest(call.request), ctx),
          (response) => callback(null, response, ctx.responseTrailers),
          (err) => callback(errorStatus(err, codec, ctx)),
          dispose,
        );
      };
    case 'client_streaming':
      return (call: ServerReadableStream<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const { ctx, dispose } = openScope(service, method, call);
        settle(
          async () => fn(readAll(call as unknown as Readable, checkRequest, ctx.signal), ctx),
          (response) => callback(null, response, ctx.responseTrailers),
          (err) => callback(errorStatus(err, codec, ctx)),
          dispose,
        );
      };
    case 'server_streaming':
      return (call: ServerWritableStream<unknown, unknown>) => {
        const { ctx, dispose } = openScope(service, method, call);
        settle(
          async () => writeAll(call, fn(checkRequest(call.request), ctx) as AsyncIterable<unknown>, ctx.signal),
          () => endStream(call, ctx),
          (err) => failStream(call, errorStatus(err, codec, ctx)),
          dispose,
        );
      };
    case 'bidi_streaming':
      return (call: ServerDuplexStream<unknown, unknown>) => {
        const { ctx, dispose } = openScope(service, method, call);
        const requests = readAll(call as unknown as Readable, checkRequest, ctx.signal);
        settle(
          async () => writeAll(call, fn(requests, ctx) as AsyncIterable<unknown>, ctx.signal),
          () => endStream(call, ctx),
          (err) => failStream(call, errorStatus(err, codec, ctx)),
          dispose,
        );
      };
  }
}

function settle(
  run: () => Promise<unknown>,
  onValue: (value: unknown) => void,
  onError: (err: unknown) => void,
  dispose: () => void,
): void {
  run().then(
    (value) => {
      dispose();
      onValue(value);
    },
    (err: unknown) => {
      dispose();
      onError(err);
    },
  );
}

type ServerStream = ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

function endStream(call: ServerStream, ctx: HandlerContext): void {
  if (call.cancelled || ctx.signal.aborted) return;
  call.end(ctx.responseTrailers);
}

function failStream(call: ServerStream, status: StatusObject): void {
  if (call.cancelled) return;
  // grpc-js turns an 'error' event on a server stream into the call's final status, but only
  // reliably once no write is in flight (see writesSettled); give a stuck write 5 s.
  const emit = (): void => {
    if (!call.cancelled) call.emit('error', status);
  };
  const timer = setTimeout(emit, 5_000);
  void writesSettled(call).then(() => {
    clearTimeout(timer);
    emit();
  });
}
