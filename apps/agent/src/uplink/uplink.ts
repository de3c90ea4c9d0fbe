import type { MessageInitShape } from '@bufbuild/protobuf';
import type { AgentService, CommitRequestSchema, CommitResponse } from '@haven/proto';
import type { Client } from '@haven/proto';

/**
 * What the pipeline needs from the controller, and nothing more (the consumer declares
 * the interface): the agent's gRPC client satisfies it, and so can an in-process fake
 * that passes the same tests.
 */
export interface Uplink {
  findMissing(set: string, ids: Uint8Array[]): Promise<number[]>;
  upload: Client<typeof AgentService>['uploadChunks'];
  commit(request: MessageInitShape<typeof CommitRequestSchema>): Promise<CommitResponse>;
}

export function uplinkFromClient(client: Client<typeof AgentService>): Uplink {
  return {
    findMissing: async (set, ids) => (await client.findMissingChunks({ set, ids })).missingIndexes,
    upload: (reqs, opts) => client.uploadChunks(reqs, opts),
    commit: (req) => client.commit(req),
  };
}
