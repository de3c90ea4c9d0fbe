import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';

/** A gRPC status as it crosses the wire: code, message and trailing metadata. */
export interface RpcStatus {
  readonly code: GrpcStatus;
  readonly details: string;
  readonly metadata?: Metadata | undefined;
}

/**
 * Maps errors to gRPC statuses and back. The bridge takes one per server and per
 * client, so the application's error table lives in one place (libs/transport) and
 * this package depends on nothing else in the repository.
 */
export interface StatusCodec {
  /** Server side: what a handler threw (or rejected with) becomes this status. */
  toStatus(err: unknown): RpcStatus;
  /** Client side: a failed call's ServiceError becomes the error the caller sees. */
  fromStatus(err: ServiceError): Error;
}

/**
 * An error carrying a gRPC status. Thrown by the bridge itself (UNIMPLEMENTED,
 * malformed requests, cancellation reasons) and usable by handlers that want to
 * answer a specific status without an application error table.
 */
export class RpcError extends Error {
  readonly code: GrpcStatus;
  readonly details: string;
  readonly metadata: Metadata;

  constructor(code: GrpcStatus, details: string, metadata?: Metadata) {
    super(details);
    this.name = 'RpcError';
    this.code = code;
    this.details = details;
    this.metadata = metadata ?? new Metadata();
  }

  toStatus(): RpcStatus {
    return { code: this.code, details: this.details, metadata: this.metadata };
  }
}

const MAX_STATUS_CODE = 16;

function isStatusCode(value: unknown): value is GrpcStatus {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_STATUS_CODE;
}

/**
 * The codec used when none is given: an error object with a numeric gRPC `code`
 * (0-16) keeps it (with its `details` or `message`, and its `metadata`), anything
 * else is INTERNAL with its message. Clients reject with grpc-js's ServiceError.
 */
export const defaultStatusCodec: StatusCodec = {
  toStatus(err: unknown): RpcStatus {
    if (typeof err === 'object' && err !== null) {
      const e = err as { code?: unknown; details?: unknown; message?: unknown; metadata?: unknown };
      const message = typeof e.details === 'string' ? e.details : typeof e.message === 'string' ? e.message : '';
      if (isStatusCode(e.code)) {
        return { code: e.code, details: message, metadata: e.metadata instanceof Metadata ? e.metadata : undefined };
      }
      return { code: GrpcStatus.INTERNAL, details: message || String(err) };
    }
    return { code: GrpcStatus.INTERNAL, details: String(err) };
  },
  fromStatus(err: ServiceError): Error {
    return err;
  },
};
