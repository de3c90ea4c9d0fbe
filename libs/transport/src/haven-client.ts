import { credentials as grpcCredentials } from '@grpc/grpc-js';
import type * as grpc from '@grpc/grpc-js';
import type { DescService } from '@bufbuild/protobuf';
import { createClient, createConnection } from '@haven/proto';
import type { Client } from '@haven/proto';
import { havenStatusCodec } from './haven-status-codec.js';
import { CLIENT_TLS_CHANNEL_OPTIONS, createClientCredentials } from './tls.js';
import type { ClientTlsMaterial } from './tls.js';

/** One channel to a Haven server; typed clients for any of its services share it. */
export interface HavenConnection {
  readonly address: string;
  client<S extends DescService>(service: S): Client<S>;
  close(): void;
}

/**
 * HTTP/2 receive window of a Haven client, per stream and per connection: downloads
 * (restores, replication reads) stall on Node's 64 KiB default the same way uploads do on
 * the server (see SERVER_STREAM_WINDOW_BYTES).
 */
export const CLIENT_WINDOW_BYTES = 16 * 1024 * 1024;

/**
 * Connects over mutual TLS pinned to the site CA (or plaintext for tests of the
 * transport itself), with Haven's error table on every call.
 */
export function connectHaven(
  address: string,
  tls: ClientTlsMaterial | 'insecure',
  channelOptions: grpc.ChannelOptions = {},
): HavenConnection {
  const credentials = tls === 'insecure' ? grpcCredentials.createInsecure() : createClientCredentials(tls);
  const connection = createConnection(address, credentials, {
    ...(tls === 'insecure' ? {} : CLIENT_TLS_CHANNEL_OPTIONS),
    'grpc.keepalive_time_ms': 20_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 5_000,
    'grpc-node.flow_control_window': CLIENT_WINDOW_BYTES,
    ...channelOptions,
  });
  return {
    address,
    client: (service) => createClient(service, connection, { codec: havenStatusCodec }),
    close: () => connection.close(),
  };
}
