import type { MessageInitShape } from '@bufbuild/protobuf';
import { createChannel } from '@haven/proto';
import type { Channel, SessionResponseSchema } from '@haven/proto';
import type { SetState } from '../catalog/catalog.js';

export type SessionMessage = MessageInitShape<typeof SessionResponseSchema>;

export interface AgentSession {
  readonly hostId: string;
  readonly hostName: string;
  readonly startedAtMs: number;
  agentVersion: string;
  capabilities: string[];
  /** Messages to the agent, in order. */
  readonly outbox: Channel<SessionMessage>;
}

/**
 * The live agent sessions, one per host: the way the controller pushes set configuration,
 * jobs and cancels to agents. A new session for a host replaces (and ends) the old one.
 */
/** The latest status an agent reported for a set (live; the catalog keeps a throttled copy). */
export interface LiveSetStatus {
  state: SetState;
  lagSeconds: number;
  backlogBytes: number;
  backlogFiles: number;
  atMs: number;
}

export interface SessionHub {
  reportStatus(set: string, status: LiveSetStatus): void;
  liveStatus(set: string): LiveSetStatus | undefined;
  open(hostId: string, hostName: string, nowMs: number): AgentSession;
  close(session: AgentSession): void;
  get(hostId: string): AgentSession | undefined;
  /** Sends to the host's agent if it is connected; false when it is not. */
  send(hostId: string, message: SessionMessage): boolean;
  online(hostId: string): boolean;
}

export function createSessionHub(): SessionHub {
  const sessions = new Map<string, AgentSession>();
  const live = new Map<string, LiveSetStatus>();
  return {
    reportStatus: (set, status) => {
      live.set(set, status);
    },
    liveStatus: (set) => live.get(set),
    open(hostId, hostName, nowMs) {
      const old = sessions.get(hostId);
      if (old !== undefined) old.outbox.close();
      const s: AgentSession = {
        hostId,
        hostName,
        startedAtMs: nowMs,
        agentVersion: '',
        capabilities: [],
        outbox: createChannel<SessionMessage>({ highWaterMark: 1024 }),
      };
      sessions.set(hostId, s);
      return s;
    },
    close(session) {
      if (sessions.get(session.hostId) === session) sessions.delete(session.hostId);
      session.outbox.close();
    },
    get: (hostId) => sessions.get(hostId),
    send(hostId, message) {
      const s = sessions.get(hostId);
      if (s === undefined || s.outbox.closed) return false;
      s.outbox.push(message);
      return true;
    },
    online: (hostId) => sessions.has(hostId),
  };
}
