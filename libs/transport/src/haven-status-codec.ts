import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { anyPack, anyUnpack } from '@bufbuild/protobuf/wkt';
import { HavenError, findHavenError, isErrorCode } from '@haven/core';
import type { ErrorCode } from '@haven/core';
import { ErrorInfoSchema, RpcError, StatusSchema } from '@haven/proto';
import type { RpcStatus, StatusCodec } from '@haven/proto';
import { errorCodeOfStatus, grpcStatusOf } from './status-table.js';

/** Trailer carrying the exact Haven code, readable by any gRPC client without protobuf. */
export const ERROR_CODE_TRAILER = 'haven-error-code';
/** The standard rich-status trailer (google.rpc.Status with a google.rpc.ErrorInfo). */
const STATUS_DETAILS_TRAILER = 'grpc-status-details-bin';
/** ErrorInfo.domain for Haven errors. */
export const ERROR_DOMAIN = 'haven.dev';

function statusFor(code: ErrorCode, message: string, details: Readonly<Record<string, string>>): RpcStatus {
  const grpcCode = grpcStatusOf(code);
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_TRAILER, code);
  const info = create(ErrorInfoSchema, { reason: code, domain: ERROR_DOMAIN, metadata: { ...details } });
  const rich = create(StatusSchema, { code: grpcCode, message, details: [anyPack(ErrorInfoSchema, info)] });
  metadata.set(STATUS_DETAILS_TRAILER, Buffer.from(toBinary(StatusSchema, rich)));
  return { code: grpcCode, details: message, metadata };
}

function richInfo(md: Metadata | undefined): { code?: ErrorCode; details: Record<string, string> } {
  const out: { code?: ErrorCode; details: Record<string, string> } = { details: {} };
  const bin = md?.get(STATUS_DETAILS_TRAILER)[0];
  if (bin instanceof Buffer) {
    try {
      const rich = fromBinary(StatusSchema, bin);
      for (const any of rich.details) {
        const info = anyUnpack(any, ErrorInfoSchema);
        if (info !== undefined && info.domain === ERROR_DOMAIN) {
          if (isErrorCode(info.reason)) out.code = info.reason;
          out.details = { ...info.metadata };
        }
      }
    } catch {
      // A peer sent undecodable details: fall back to the plain status.
    }
  }
  const plain = md?.get(ERROR_CODE_TRAILER)[0];
  if (out.code === undefined && typeof plain === 'string' && isErrorCode(plain)) out.code = plain;
  return out;
}

/**
 * Haven's StatusCodec: HavenError <-> gRPC status through the one table, in both
 * directions. Unknown server errors become INTERNAL without leaking stack traces.
 */
export const havenStatusCodec: StatusCodec = {
  toStatus(err: unknown): RpcStatus {
    const haven = findHavenError(err);
    if (haven !== undefined) return statusFor(haven.code, haven.message, haven.details);
    if (err instanceof RpcError) {
      const code = errorCodeOfStatus(err.code);
      const st = statusFor(code, err.details, {});
      // Keep the transport's own status (e.g. DEADLINE_EXCEEDED, UNIMPLEMENTED) exactly.
      return { code: err.code, details: err.details, metadata: st.metadata };
    }
    const message = err instanceof Error ? err.message : String(err);
    return statusFor('INTERNAL', `internal error: ${message.split('\n')[0] ?? ''}`, {});
  },
  fromStatus(err: ServiceError): Error {
    const info = richInfo(err.metadata);
    const code = info.code ?? (err.code === GrpcStatus.OK ? 'INTERNAL' : errorCodeOfStatus(err.code));
    return new HavenError(code, err.details || err.message, { cause: err, details: info.details });
  },
};
