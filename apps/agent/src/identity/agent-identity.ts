import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HavenError } from '@haven/core';
import { readJsonFile, writeFileAtomic } from '@haven/runtime';
import type { ClientTlsMaterial } from '@haven/transport';

/** What `enroll` leaves in the state dir and `run` needs: who we are and whom we trust. */
export interface AgentIdentity {
  formatVersion: 1;
  controller: string;
  hostName: string;
  hostId: string;
  siteName: string;
  enrolledAt: string;
}

export interface AgentStatePaths {
  root: string;
  identity: string;
  caCert: string;
  cert: string;
  key: string;
  stateDb: string;
}

export function agentStatePaths(root: string): AgentStatePaths {
  return {
    root,
    identity: join(root, 'agent.json'),
    caCert: join(root, 'tls', 'ca.pem'),
    cert: join(root, 'tls', 'host.pem'),
    key: join(root, 'tls', 'host.key'),
    stateDb: join(root, 'state.db'),
  };
}

export function saveIdentity(paths: AgentStatePaths, identity: AgentIdentity, tls: Required<ClientTlsMaterial>): void {
  mkdirSync(join(paths.root, 'tls'), { recursive: true, mode: 0o700 });
  writeFileAtomic(paths.caCert, tls.caPem);
  writeFileAtomic(paths.cert, tls.certPem);
  writeFileAtomic(paths.key, tls.keyPem, 0o600);
  // agent.json last: its presence marks a complete enrollment.
  writeFileAtomic(paths.identity, `${JSON.stringify(identity, null, 2)}\n`);
}

export function loadIdentity(paths: AgentStatePaths): { identity: AgentIdentity; tls: Required<ClientTlsMaterial> } {
  if (!existsSync(paths.identity)) {
    throw new HavenError('FAILED_PRECONDITION', `${paths.root} holds no enrollment: run \`haven-agent enroll --controller HOST:PORT --token TOKEN --state ${paths.root}\` first`);
  }
  const identity = readJsonFile<AgentIdentity>(paths.identity, 'agent identity');
  return {
    identity,
    tls: {
      caPem: readFileSync(paths.caCert, 'utf8'),
      certPem: readFileSync(paths.cert, 'utf8'),
      keyPem: readFileSync(paths.key, 'utf8'),
    },
  };
}
