/**
 * Largest message Haven sends or accepts by default. grpc-js defaults to 4 MiB for
 * receiving, which is exactly the largest content-defined chunk; a chunk plus its
 * envelope would not fit, so every server and client uses this bound instead.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** grpc-js's own default receive limit, for reference in tests and docs. */
export const GRPC_DEFAULT_MAX_RECEIVE_BYTES = 4 * 1024 * 1024;

export interface MessageSizeOptions {
  'grpc.max_receive_message_length': number;
  'grpc.max_send_message_length': number;
}

/**
 * Channel/server options that set both message limits to `maxBytes`. Spread them
 * into `new grpc.Server({...})` or client options so every side agrees; a message
 * over the limit fails with RESOURCE_EXHAUSTED instead of reaching a handler.
 */
export function messageSizeOptions(maxBytes: number = DEFAULT_MAX_MESSAGE_BYTES): MessageSizeOptions {
  if (!Number.isInteger(maxBytes) || maxBytes <= 0) {
    throw new RangeError(`message size limit must be a positive integer, got ${maxBytes}`);
  }
  return {
    'grpc.max_receive_message_length': maxBytes,
    'grpc.max_send_message_length': maxBytes,
  };
}
