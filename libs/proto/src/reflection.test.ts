import { createFileRegistry, fromBinary } from '@bufbuild/protobuf';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import type { FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { addService } from './add-service.js';
import { createClient, createConnection } from './create-client.js';
import * as v1 from './gen/grpc/reflection/v1/reflection_pb.js';
import * as v1alpha from './gen/grpc/reflection/v1alpha/reflection_pb.js';
import { createHealthService } from './health.js';
import { addReflection } from './reflection.js';
import { bridgeTestImpl, createProbe, startServer } from './test-support/bridge-test-server.js';
import type { RunningServer } from './test-support/bridge-test-server.js';
import { BridgeTestService, file_haven_testing_v1_bridge_test } from './test-gen/haven/testing/v1/bridge_test_pb.js';

type Request = MessageInitShape<typeof v1.ServerReflectionRequestSchema>;

/** The parts of a reflection response the tests read, identical in v1 and v1alpha. */
interface Answer {
  services: string[];
  files: FileDescriptorProto[];
  error: { errorCode: number; errorMessage: string } | undefined;
  validHost: string;
}

type Ask = (requests: Request[]) => Promise<Answer[]>;

function toAnswer(response: v1.ServerReflectionResponse | v1alpha.ServerReflectionResponse): Answer {
  const r = response.messageResponse;
  return {
    services: r.case === 'listServicesResponse' ? r.value.service.map((s) => s.name) : [],
    files: r.case === 'fileDescriptorResponse' ? r.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b)) : [],
    error: r.case === 'errorResponse' ? { errorCode: r.value.errorCode, errorMessage: r.value.errorMessage } : undefined,
    validHost: response.validHost,
  };
}

async function* iterate<T>(items: T[]): AsyncIterable<T> {
  for (const item of items) yield item;
}

describe('server reflection', () => {
  let running: RunningServer;
  let connection: grpc.Client;
  const versions: Array<[string, Ask]> = [];

  beforeAll(async () => {
    running = await startServer((server) => {
      // Reflection first: services registered afterwards must still be listed.
      addReflection(server, []);
      addService(server, BridgeTestService, bridgeTestImpl(createProbe()));
      createHealthService().addTo(server);
    });
    connection = createConnection(running.address, grpc.credentials.createInsecure());
    const clientV1 = createClient(v1.ServerReflection, connection);
    const clientV1alpha = createClient(v1alpha.ServerReflection, connection);
    versions.push(
      [
        'v1',
        async (requests) => {
          const out: Answer[] = [];
          for await (const response of clientV1.serverReflectionInfo(iterate(requests))) out.push(toAnswer(response));
          return out;
        },
      ],
      [
        'v1alpha',
        async (requests) => {
          const out: Answer[] = [];
          // The request init objects are plain objects, identical in both packages.
          const alpha = requests as Array<MessageInitShape<typeof v1alpha.ServerReflectionRequestSchema>>;
          for await (const response of clientV1alpha.serverReflectionInfo(iterate(alpha))) out.push(toAnswer(response));
          return out;
        },
      ],
    );
  });

  afterAll(async () => {
    connection.close();
    await running.close();
  });

  const expectedServices = [
    'grpc.health.v1.Health',
    'grpc.reflection.v1.ServerReflection',
    'grpc.reflection.v1alpha.ServerReflection',
    'haven.testing.v1.BridgeTestService',
  ];

  for (const version of ['v1', 'v1alpha']) {
    describe(version, () => {
      const ask: Ask = (requests) => {
        const found = versions.find(([name]) => name === version);
        if (!found) throw new Error(`no client for ${version}`);
        return found[1](requests);
      };

      it('lists the registered services', async () => {
        const [answer] = await ask([{ host: 'localhost', messageRequest: { case: 'listServices', value: '' } }]);
        expect(answer?.services).toEqual(expectedServices);
        expect(answer?.validHost).toBe('localhost');
      });

      it('finds the file of a service, method, message, nested enum and enum, with its imports', async () => {
        const symbols = [
          'haven.testing.v1.BridgeTestService',
          'haven.testing.v1.BridgeTestService.Echo',
          'haven.testing.v1.EchoRequest',
          'haven.testing.v1.Mode',
          '.haven.testing.v1.Control',
        ];
        const answers = await ask(symbols.map((value) => ({ messageRequest: { case: 'fileContainingSymbol', value } })));
        expect(answers).toHaveLength(symbols.length);
        for (const answer of answers) {
          expect(answer.error).toBeUndefined();
          expect(answer.files.map((f) => f.name)).toEqual(['haven/testing/v1/bridge_test.proto', 'google/protobuf/timestamp.proto']);
        }
        const [nested] = await ask([
          { messageRequest: { case: 'fileContainingSymbol', value: 'grpc.health.v1.HealthCheckResponse.ServingStatus' } },
        ]);
        expect(nested?.files.map((f) => f.name)).toEqual(['grpc/health/v1/health.proto']);
      });

      it('serves well-known imports by file name', async () => {
        const [answer] = await ask([{ messageRequest: { case: 'fileByFilename', value: 'google/protobuf/timestamp.proto' } }]);
        expect(answer?.files[0]?.name).toBe('google/protobuf/timestamp.proto');
        expect(answer?.files[0]?.messageType.map((m) => m.name)).toEqual(['Timestamp']);
      });

      it('answers NOT_FOUND for unknown symbols and files without ending the stream', async () => {
        const answers = await ask([
          { messageRequest: { case: 'fileContainingSymbol', value: 'haven.v1.Nope' } },
          { messageRequest: { case: 'fileByFilename', value: 'nope.proto' } },
          { messageRequest: { case: 'allExtensionNumbersOfType', value: 'haven.testing.v1.EchoRequest' } },
        ]);
        expect(answers.map((a) => a.error?.errorCode)).toEqual([grpc.status.NOT_FOUND, grpc.status.NOT_FOUND, undefined]);
      });

      it('returns descriptors complete enough to rebuild every listed service, as grpcurl describe does', async () => {
        const [list] = await ask([{ messageRequest: { case: 'listServices', value: '' } }]);
        const names = list?.services ?? [];
        const answers = await ask(names.map((value) => ({ messageRequest: { case: 'fileContainingSymbol', value } })));
        const files = new Map<string, FileDescriptorProto>();
        for (const answer of answers) for (const file of answer.files) files.set(file.name, file);
        // Like grpcurl: the first file of each answer is the one asked for; its imports
        // must all be resolvable from what the server sent.
        const registries = answers.map((answer) => {
          const first = answer.files[0];
          if (!first) throw new Error('empty answer');
          return createFileRegistry(first, (name) => files.get(name));
        });
        const registry = createFileRegistry(...registries);
        for (const name of names) expect(registry.getService(name)?.methods.length).toBeGreaterThan(0);
        const echo = registry.getService('haven.testing.v1.BridgeTestService')?.methods.find((m) => m.name === 'Echo');
        expect(echo?.input.typeName).toBe('haven.testing.v1.EchoRequest');
        expect(echo?.output.fields.find((f) => f.name === 'served_at')?.message?.typeName).toBe('google.protobuf.Timestamp');
        const exchange = registry.getService('haven.testing.v1.BridgeTestService')?.methods.find((m) => m.name === 'Exchange');
        expect(exchange?.methodKind).toBe('bidi_streaming');
      });
    });
  }

  it('also lists services of files passed explicitly', async () => {
    const other = await startServer((server) => addReflection(server, [file_haven_testing_v1_bridge_test]));
    const conn = createConnection(other.address, grpc.credentials.createInsecure());
    try {
      const client = createClient(v1.ServerReflection, conn);
      const names: string[] = [];
      for await (const r of client.serverReflectionInfo(iterate<Request>([{ messageRequest: { case: 'listServices', value: '' } }]))) {
        names.push(...toAnswer(r).services);
      }
      expect(names).toContain('haven.testing.v1.BridgeTestService');
    } finally {
      conn.close();
      await other.close();
    }
  });
});
