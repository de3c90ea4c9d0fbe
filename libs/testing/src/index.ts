export { runNode, spawnNode } from './child-process-handle.js';
export type { SpawnedProcess } from './child-process-handle.js';
export { startControllerProcess, waitForServing } from './controller-process.js';
export type { ControllerCredentials, ControllerProcess } from './controller-process.js';
export { bins, repoRoot, requireBuilt } from './repo-paths.js';
export { makeTempDir, removeTempDirs } from './temp-dir.js';
export { enrollTestHost } from './test-host.js';
export type { TestHost } from './test-host.js';
