export { formatOptions, parseCommandLine, parseDurationMs, parseHostPort } from './command-line.js';
export type { OptionSpec, OptionSpecs, ParsedCommandLine, ParsedOptions } from './command-line.js';
export { exitCodeOf, formatError, runMain } from './run-main.js';
export { createLogger } from './logger.js';
export type { LogLevel, Logger } from './logger.js';
export { fsyncDir, readJsonFile, writeFileAtomic } from './atomic-file.js';
