import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { DescMessage, DescMethod, DescService } from '@bufbuild/protobuf';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';

import { EncodedMessage } from './encoded-message.js';
import { hasRequestStream, hasResponseStream, methodPath } from './method-types.js';

/**
 * Serializes a message or a message init object (`{ field: value }`) of `schema`.
 * Accepting init shapes lets handlers and callers return plain objects. An EncodedMessage
 * of `schema` goes out as its bytes, without a copy.
 */
export function serializerOf(schema: DescMessage): (value: unknown) => Buffer {
  return (value: unknown): Buffer => {
    if (value instanceof EncodedMessage) {
      if (value.schema.typeName !== schema.typeName) {
        throw new TypeError(`an encoded ${value.schema.typeName} was given where ${schema.typeName} is expected`);
      }
      const { buffer, byteOffset, byteLength } = value.bytes;
      return Buffer.from(buffer, byteOffset, byteLength);
    }
    const bytes = toBinary(schema, create(schema, value as Record<string, unknown>));
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

export function deserializerOf(schema: DescMessage): (bytes: Buffer) => unknown {
  return (bytes: Buffer): unknown => fromBinary(schema, bytes);
}

/**
 * Stands in for a request that failed to decode. grpc-js answers a throwing request
 * deserializer with INTERNAL; the server bridge turns this marker into
 * INVALID_ARGUMENT instead, since the fault is the caller's bytes, not the server.
 */
export class MalformedMessage {
  constructor(
    readonly schema: DescMessage,
    readonly cause: unknown,
  ) {}

  get message(): string {
    const reason = this.cause instanceof Error ? this.cause.message : String(this.cause);
    return `malformed ${this.schema.typeName} message: ${reason}`;
  }
}

function tolerantDeserializerOf(schema: DescMessage): (bytes: Buffer) => unknown {
  return (bytes: Buffer): unknown => {
    try {
      return fromBinary(schema, bytes);
    } catch (err) {
      return new MalformedMessage(schema, err);
    }
  };
}

export function methodDefinitionOf(
  method: DescMethod,
  options: { tolerantRequests?: boolean } = {},
): MethodDefinition<unknown, unknown> {
  return {
    path: methodPath(method),
    requestStream: hasRequestStream(method),
    responseStream: hasResponseStream(method),
    requestSerialize: serializerOf(method.input),
    requestDeserialize: options.tolerantRequests ? tolerantDeserializerOf(method.input) : deserializerOf(method.input),
    responseSerialize: serializerOf(method.output),
    responseDeserialize: deserializerOf(method.output),
    originalName: method.name,
  };
}

/**
 * The grpc-js service definition of a protobuf-es service: one entry per method,
 * keyed by the method's `localName` (lowerCamelCase), path `/pkg.Service/Method`,
 * with protobuf-es binary (de)serializers. Usable with `grpc.Server.addService` and
 * `grpc.makeGenericClientConstructor`.
 */
export function createServiceDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) definition[method.localName] = methodDefinitionOf(method);
  return definition;
}
