import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ErrorCode } from '@haven/core';

/**
 * The one table between Haven's stable error codes and gRPC status codes, used in both
 * directions. Codes without a gRPC twin (FENCED, CORRUPT) map to the nearest standard
 * status; the exact Haven code travels beside it (trailer + google.rpc.ErrorInfo), so a
 * round trip is lossless.
 */
export const STATUS_TABLE: ReadonlyArray<readonly [ErrorCode, GrpcStatus]> = [
  ['CANCELLED', GrpcStatus.CANCELLED],
  ['INVALID_ARGUMENT', GrpcStatus.INVALID_ARGUMENT],
  ['DEADLINE_EXCEEDED', GrpcStatus.DEADLINE_EXCEEDED],
  ['NOT_FOUND', GrpcStatus.NOT_FOUND],
  ['ALREADY_EXISTS', GrpcStatus.ALREADY_EXISTS],
  ['PERMISSION_DENIED', GrpcStatus.PERMISSION_DENIED],
  ['RESOURCE_EXHAUSTED', GrpcStatus.RESOURCE_EXHAUSTED],
  ['FAILED_PRECONDITION', GrpcStatus.FAILED_PRECONDITION],
  ['ABORTED', GrpcStatus.ABORTED],
  ['UNIMPLEMENTED', GrpcStatus.UNIMPLEMENTED],
  ['INTERNAL', GrpcStatus.INTERNAL],
  ['UNAVAILABLE', GrpcStatus.UNAVAILABLE],
  ['CORRUPT', GrpcStatus.DATA_LOSS],
  ['UNAUTHENTICATED', GrpcStatus.UNAUTHENTICATED],
  // Stale epoch: the caller must not retry blindly; FAILED_PRECONDITION says exactly that.
  ['FENCED', GrpcStatus.FAILED_PRECONDITION],
];

const toGrpc = new Map<ErrorCode, GrpcStatus>(STATUS_TABLE.map(([c, s]) => [c, s]));
const fromGrpc = new Map<GrpcStatus, ErrorCode>();
for (const [c, s] of STATUS_TABLE) if (!fromGrpc.has(s)) fromGrpc.set(s, c);
// Statuses no Haven code produces, seen from foreign servers or the transport itself.
fromGrpc.set(GrpcStatus.UNKNOWN, 'INTERNAL');
fromGrpc.set(GrpcStatus.OUT_OF_RANGE, 'INVALID_ARGUMENT');

export function grpcStatusOf(code: ErrorCode): GrpcStatus {
  return toGrpc.get(code) ?? GrpcStatus.INTERNAL;
}

/** The Haven code for a bare gRPC status (no Haven code alongside it). */
export function errorCodeOfStatus(status: GrpcStatus): ErrorCode {
  return fromGrpc.get(status) ?? 'INTERNAL';
}
