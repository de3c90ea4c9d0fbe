import { formatOptions } from '@haven/runtime';
import { GLOBAL_OPTIONS } from './command.js';
import type { Command } from './command.js';
import { SECTIONS } from './registry.js';

const name = (cmd: Command): string => cmd.path.join(' ');

function commandList(commands: readonly Command[], indent: string, width = Math.max(...commands.map((c) => name(c).length))): string {
  return commands.map((c) => `${indent}${name(c).padEnd(width)}  ${c.summary}`).join('\n');
}

export function globalHelp(): string {
  const width = Math.max(...SECTIONS.flatMap((s) => s.commands.map((c) => name(c).length)));
  const sections = SECTIONS.map((s) => `${s.title}:\n${commandList(s.commands, '  ', width)}`).join('\n\n');
  return `haven: the admin CLI of a Haven site (a client of the controller's Admin gRPC API)

Usage:
  haven [--controller HOST:PORT] [--data DIR] [--json] COMMAND [ARGS] [FLAGS]

${sections}

Global options (before or after the command):
${formatOptions(GLOBAL_OPTIONS)}

Connection:
  Admin credential: --data DIR (the controller's data directory: tls/ca.pem, tls/admin.pem,
  tls/admin.key), else the profile file named by HAVEN_PROFILE, else HAVEN_DATA=DIR.
  Controller: --controller HOST:PORT, else HAVEN_CONTROLLER, else the profile's "controller",
  else the address a running \`haven-controller serve\` wrote into the data directory,
  else 127.0.0.1:7443.
  A profile is a JSON file for use away from the controller:
    {"controller": "ctl.example.net:7443", "caFile": "ca.pem", "certFile": "admin.pem", "keyFile": "admin.key"}
  caPem, certPem and keyPem hold PEM text inline instead of the *File paths, which are
  resolved against the profile's directory.

POINT (--at): a seq number, an RFC 3339 time with a zone (2026-01-02T15:04:05Z: the last
  point at or before it), or latest (the default).

Output:
  Tables for people. --json prints the Admin API response in protobuf's canonical JSON
  mapping (lowerCamelCase keys, 64-bit integers as strings, enum value names, RFC 3339
  times), one document per command. Streams print one message per line (JSON Lines):
  ls (AdminServiceListFilesResponse), cat (ReadFileResponse), and job watch and every
  command that follows a job (WatchJobResponse snapshots, the last one terminal).
  Progress goes to stderr: one updating line on a terminal, periodic lines otherwise.

Exit codes: 0 success; 2 INVALID_ARGUMENT; 3 NOT_FOUND; 4 UNAVAILABLE; 5 PERMISSION_DENIED or
  UNAUTHENTICATED; 6 FENCED; 7 CORRUPT (also: verify found damage); 8 FAILED_PRECONDITION;
  1 anything else. Errors are one line on stderr: "haven: CODE: message".

Run "haven COMMAND --help" for the flags of a command.
`;
}

export function groupHelp(group: string, commands: readonly Command[]): string {
  return `Usage: haven ${group} COMMAND ...\n\nCommands:\n${commandList(commands, '  ')}\n\nRun "haven ${group} COMMAND --help" for details.\n`;
}

export function commandHelp(cmd: Command): string {
  const parts = [`Usage: haven ${name(cmd)}${cmd.usage === '' ? '' : ` ${cmd.usage}`}`, `${cmd.summary[0]!.toUpperCase()}${cmd.summary.slice(1)}.`];
  if (cmd.details !== undefined) parts.push(cmd.details);
  if (Object.keys(cmd.options).length > 0) parts.push(`Options:\n${formatOptions(cmd.options)}`);
  parts.push('Global options: --controller HOST:PORT, --data DIR, --json, -h/--help (see haven --help)');
  return `${parts.join('\n\n')}\n`;
}
