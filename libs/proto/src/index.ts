// grpc-js <-> protobuf-es bridge
export { addService, registeredServices } from './add-service.js';
export type {
  AddServiceOptions,
  BiDiStreamingImpl,
  ClientStreamingImpl,
  HandlerContext,
  MethodImpl,
  ServerStreamingImpl,
  ServiceImpl,
  UnaryImpl,
} from './add-service.js';
export { createClient, createConnection } from './create-client.js';
export type {
  BiDiStreamingFn,
  CallOptions,
  Client,
  ClientMethod,
  ClientOptions,
  ClientStreamingFn,
  RequestOf,
  ServerStreamingFn,
  UnaryFn,
} from './create-client.js';
export { EncodedMessage } from './encoded-message.js';
export { encodeChunkMessage } from './chunk-message.js';
export type { ChunkFields } from './chunk-message.js';
export { createServiceDefinition } from './service-definition.js';
export { methodPath } from './method-types.js';
export type {
  DescMethodBiDiStreaming,
  DescMethodClientStreaming,
  DescMethodServerStreaming,
  DescMethodUnary,
} from './method-types.js';
export { defaultStatusCodec, RpcError } from './status-codec.js';
export type { RpcStatus, StatusCodec } from './status-codec.js';
export { DEFAULT_MAX_MESSAGE_BYTES, GRPC_DEFAULT_MAX_RECEIVE_BYTES, messageSizeOptions } from './message-size.js';
export type { MessageSizeOptions } from './message-size.js';
export { createChannel } from './channel.js';
export type { Channel, ChannelOptions } from './channel.js';

// Standard services
export { createHealthService } from './health.js';
export type { HealthService } from './health.js';
export { addReflection } from './reflection.js';

// Generated: standard gRPC and Google RPC protos
export {
  file_grpc_health_v1_health,
  Health,
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponse_ServingStatusSchema,
  HealthCheckResponseSchema,
  HealthListRequestSchema,
  HealthListResponseSchema,
} from './gen/grpc/health/v1/health_pb.js';
export type {
  HealthCheckRequest,
  HealthCheckResponse,
  HealthListRequest,
  HealthListResponse,
} from './gen/grpc/health/v1/health_pb.js';
export * as reflectionV1 from './gen/grpc/reflection/v1/reflection_pb.js';
export * as reflectionV1alpha from './gen/grpc/reflection/v1alpha/reflection_pb.js';
export { file_google_rpc_status, StatusSchema } from './gen/google/rpc/status_pb.js';
export type { Status } from './gen/google/rpc/status_pb.js';
export {
  BadRequestSchema,
  DebugInfoSchema,
  ErrorInfoSchema,
  file_google_rpc_error_details,
  HelpSchema,
  LocalizedMessageSchema,
  PreconditionFailureSchema,
  QuotaFailureSchema,
  RequestInfoSchema,
  ResourceInfoSchema,
  RetryInfoSchema,
} from './gen/google/rpc/error_details_pb.js';
export type {
  BadRequest,
  DebugInfo,
  ErrorInfo,
  Help,
  LocalizedMessage,
  PreconditionFailure,
  QuotaFailure,
  RequestInfo,
  ResourceInfo,
  RetryInfo,
} from './gen/google/rpc/error_details_pb.js';

// Generated: Haven API (haven.v1), one line per file in proto/haven/v1
export * from './gen/haven/v1/common_pb.js';
export * from './gen/haven/v1/job_pb.js';
export * from './gen/haven/v1/agent_pb.js';
export * from './gen/haven/v1/admin_pb.js';
export * from './gen/haven/v1/replication_pb.js';
