import { join } from 'node:path';
import { AdminService } from '@haven/proto';
import { runNode, spawnNode } from './child-process-handle.js';
import type { SpawnedProcess } from './child-process-handle.js';
import type { ControllerProcess } from './controller-process.js';
import { bins, requireBuilt } from './repo-paths.js';
import { makeTempDir } from './temp-dir.js';

/** A real `haven-agent run` child process enrolled at a controller. */
export interface AgentProcess {
  readonly hostName: string;
  readonly stateDir: string;
  readonly process: SpawnedProcess;
  kill(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals>;
  /** Starts the agent again on the same state dir. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Enrolls a host through a one-time token (as an operator would) and runs its agent. */
export async function startAgentProcess(ctl: ControllerProcess, options: { hostName: string; env?: NodeJS.ProcessEnv }): Promise<AgentProcess> {
  const script = requireBuilt(bins.agent);
  const stateDir = join(makeTempDir(`haven-agent-${options.hostName}-`), 'state');
  const admin = ctl.connect();
  const { token } = await admin.client(AdminService).createToken({ host: options.hostName });
  admin.close();
  const enroll = await runNode(script, ['enroll', '--controller', ctl.address, '--token', token, '--state', stateDir]);
  if (enroll.code !== 0) throw new Error(`haven-agent enroll failed (${enroll.code}): ${enroll.stderr}`);
  let proc: SpawnedProcess;
  async function launch(): Promise<void> {
    proc = spawnNode(script, ['run', '--state', stateDir], { env: options.env ?? {} });
    await proc.waitForLine((l) => l.includes('"event":"running"'), 30_000);
  }
  await launch();
  return {
    hostName: options.hostName,
    stateDir,
    get process() {
      return proc;
    },
    kill: (signal = 'SIGKILL') => proc.kill(signal),
    restart: launch,
    stop: async () => {
      await proc.kill('SIGTERM');
    },
  };
}
