import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { DescExtension, DescFile, DescMessage, DescService, MessageInitShape } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Server } from '@grpc/grpc-js';

import { addService, registeredServices } from './add-service.js';
import type { AddServiceOptions } from './add-service.js';
import * as v1 from './gen/grpc/reflection/v1/reflection_pb.js';
import * as v1alpha from './gen/grpc/reflection/v1alpha/reflection_pb.js';

type ResponseInit = MessageInitShape<typeof v1.ServerReflectionResponseSchema>;

/** Everything reflection can describe: files by name, symbols and extensions by file. */
interface ReflectionIndex {
  readonly services: readonly string[];
  readonly files: ReadonlyMap<string, DescFile>;
  readonly symbols: ReadonlyMap<string, DescFile>;
  readonly messages: ReadonlyMap<string, DescMessage>;
  readonly extensions: ReadonlyMap<string, DescExtension>;
}

function fileName(file: DescFile): string {
  return file.proto.name;
}

function extensionKey(extendee: string, number: number): string {
  return `${extendee}#${number}`;
}

function buildIndex(roots: readonly DescFile[], serviceRoots: readonly DescService[]): ReflectionIndex {
  const files = new Map<string, DescFile>();
  const symbols = new Map<string, DescFile>();
  const messages = new Map<string, DescMessage>();
  const extensions = new Map<string, DescExtension>();

  const addExtension = (ext: DescExtension, file: DescFile): void => {
    symbols.set(ext.typeName, file);
    extensions.set(extensionKey(ext.extendee.typeName, ext.number), ext);
  };
  const addMessage = (message: DescMessage, file: DescFile): void => {
    symbols.set(message.typeName, file);
    messages.set(message.typeName, message);
    for (const nested of message.nestedMessages) addMessage(nested, file);
    for (const nested of message.nestedEnums) symbols.set(nested.typeName, file);
    for (const nested of message.nestedExtensions) addExtension(nested, file);
  };
  const addFile = (file: DescFile): void => {
    if (files.has(fileName(file))) return;
    files.set(fileName(file), file);
    for (const message of file.messages) addMessage(message, file);
    for (const en of file.enums) symbols.set(en.typeName, file);
    for (const ext of file.extensions) addExtension(ext, file);
    for (const service of file.services) {
      symbols.set(service.typeName, file);
      for (const method of service.methods) symbols.set(`${service.typeName}.${method.name}`, file);
    }
    for (const dep of file.dependencies) addFile(dep);
  };

  for (const file of roots) addFile(file);
  for (const service of serviceRoots) addFile(service.file);
  const services = new Set<string>(serviceRoots.map((s) => s.typeName));
  for (const file of roots) for (const service of file.services) services.add(service.typeName);
  return { services: [...services].sort(), files, symbols, messages, extensions };
}

const serialized = new WeakMap<DescFile, Uint8Array>();

function serializeFile(file: DescFile): Uint8Array {
  let bytes = serialized.get(file);
  if (!bytes) {
    bytes = toBinary(FileDescriptorProtoSchema, file.proto);
    serialized.set(file, bytes);
  }
  return bytes;
}

/** The file first (clients take the first entry as the answer), then its transitive imports. */
function withDependencies(file: DescFile): Uint8Array[] {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  const queue: DescFile[] = [file];
  for (let next = queue.shift(); next; next = queue.shift()) {
    if (seen.has(fileName(next))) continue;
    seen.add(fileName(next));
    out.push(serializeFile(next));
    queue.push(...next.dependencies);
  }
  return out;
}

function answer(index: ReflectionIndex, request: v1.ServerReflectionRequest): ResponseInit {
  const base = { validHost: request.host, originalRequest: request };
  const notFound = (what: string): ResponseInit => ({
    ...base,
    messageResponse: { case: 'errorResponse', value: { errorCode: GrpcStatus.NOT_FOUND, errorMessage: `${what} not found` } },
  });
  const files = (file: DescFile | undefined, what: string): ResponseInit =>
    file
      ? { ...base, messageResponse: { case: 'fileDescriptorResponse', value: { fileDescriptorProto: withDependencies(file) } } }
      : notFound(what);

  const req = request.messageRequest;
  switch (req.case) {
    case 'listServices':
      return {
        ...base,
        messageResponse: { case: 'listServicesResponse', value: { service: index.services.map((name) => ({ name })) } },
      };
    case 'fileByFilename':
      return files(index.files.get(req.value), `file ${req.value}`);
    case 'fileContainingSymbol': {
      const symbol = req.value.replace(/^\./, '');
      return files(index.symbols.get(symbol), `symbol ${symbol}`);
    }
    case 'fileContainingExtension': {
      const { containingType, extensionNumber } = req.value;
      const ext = index.extensions.get(extensionKey(containingType.replace(/^\./, ''), extensionNumber));
      return files(ext?.file, `extension ${extensionNumber} of ${containingType}`);
    }
    case 'allExtensionNumbersOfType': {
      const typeName = req.value.replace(/^\./, '');
      if (!index.messages.has(typeName)) return notFound(`type ${typeName}`);
      const numbers = [...index.extensions.values()].filter((e) => e.extendee.typeName === typeName).map((e) => e.number);
      return {
        ...base,
        messageResponse: { case: 'allExtensionNumbersResponse', value: { baseTypeName: typeName, extensionNumber: numbers } },
      };
    }
    case undefined:
      return {
        ...base,
        messageResponse: {
          case: 'errorResponse',
          value: { errorCode: GrpcStatus.INVALID_ARGUMENT, errorMessage: 'reflection request names no query' },
        },
      };
  }
}

/**
 * Registers grpc.reflection.v1 and v1alpha ServerReflection on `server`, so tools such
 * as `grpcurl -plaintext host:port list|describe` work. Listed services: those added
 * to `server` through `addService` (looked up per stream, so services added later are
 * included) and those declared in `files`. Lookups by file name, symbol (service,
 * method, message, enum, extension) and extension cover those files and all their
 * transitive imports (well-known types included); each answer carries the file first,
 * then its imports, as serialized FileDescriptorProtos.
 */
export function addReflection(server: Server, files: readonly DescFile[], options: AddServiceOptions = {}): void {
  const indexOf = (): ReflectionIndex => buildIndex(files, registeredServices(server));

  addService(
    server,
    v1.ServerReflection,
    {
      async *serverReflectionInfo(requests) {
        const index = indexOf();
        for await (const request of requests) yield answer(index, request);
      },
    },
    options,
  );

  // v1alpha has the same messages under another package: translate through the wire.
  addService(
    server,
    v1alpha.ServerReflection,
    {
      async *serverReflectionInfo(requests) {
        const index = indexOf();
        for await (const request of requests) {
          const asV1 = fromBinary(v1.ServerReflectionRequestSchema, toBinary(v1alpha.ServerReflectionRequestSchema, request));
          const response = create(v1.ServerReflectionResponseSchema, answer(index, asV1));
          yield fromBinary(v1alpha.ServerReflectionResponseSchema, toBinary(v1.ServerReflectionResponseSchema, response));
        }
      },
    },
    options,
  );
}
