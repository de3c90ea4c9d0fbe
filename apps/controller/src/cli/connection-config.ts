import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { HavenError } from '@haven/core';
import { parseHostPort, readJsonFile } from '@haven/runtime';
import { dataDirLayout } from '../site/data-dir.js';

export const DEFAULT_CONTROLLER = '127.0.0.1:7443';

/** Where the CLI connects and with which admin credential. */
export interface ConnectionConfig {
  readonly address: string;
  readonly tls: { readonly caPem: string; readonly certPem: string; readonly keyPem: string };
}

/** A profile file (HAVEN_PROFILE): a controller address and an admin credential, inline or as files. */
interface ProfileFile {
  controller?: unknown;
  caPem?: unknown;
  caFile?: unknown;
  certPem?: unknown;
  certFile?: unknown;
  keyPem?: unknown;
  keyFile?: unknown;
}

/**
 * Resolves the connection the way the help text documents it. Credential: `--data DIR`, else
 * the profile named by HAVEN_PROFILE, else HAVEN_DATA. Address: `--controller`, else
 * HAVEN_CONTROLLER, else the profile's `controller`, else the address a running `serve` wrote
 * into the data dir, else 127.0.0.1:7443.
 */
export function resolveConnectionConfig(flags: { controller?: string | undefined; data?: string | undefined }, env: NodeJS.ProcessEnv): ConnectionConfig {
  const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v.trim());
  const dataDir = nonEmpty(flags.data) ?? (nonEmpty(env['HAVEN_PROFILE']) === undefined ? nonEmpty(env['HAVEN_DATA']) : undefined);
  let tls: ConnectionConfig['tls'];
  let fallbackAddress: string | undefined;
  if (dataDir !== undefined) {
    const layout = dataDirLayout(dataDir);
    tls = {
      caPem: readPem(layout.caCert, `CA certificate (is ${dataDir} a controller data directory?)`),
      certPem: readPem(layout.adminCert, 'admin certificate'),
      keyPem: readPem(layout.adminKey, 'admin key'),
    };
    fallbackAddress = existsSync(layout.addressFile) ? readFileSync(layout.addressFile, 'utf8').trim() : undefined;
  } else {
    const profilePath = nonEmpty(env['HAVEN_PROFILE']);
    if (profilePath === undefined) {
      throw new HavenError(
        'INVALID_ARGUMENT',
        'no admin credential: pass --data DIR (the controller data directory) or set HAVEN_PROFILE=FILE or HAVEN_DATA=DIR',
      );
    }
    ({ tls, address: fallbackAddress } = readProfile(profilePath));
  }
  const address = nonEmpty(flags.controller) ?? nonEmpty(env['HAVEN_CONTROLLER']) ?? nonEmpty(fallbackAddress) ?? DEFAULT_CONTROLLER;
  parseHostPort(address);
  return { address, tls };
}

function readProfile(path: string): { tls: ConnectionConfig['tls']; address: string | undefined } {
  const profile = readJsonFile<ProfileFile>(path, 'profile');
  if (typeof profile !== 'object' || profile === null || Array.isArray(profile)) {
    throw new HavenError('INVALID_ARGUMENT', `profile ${path} must be a JSON object`);
  }
  const base = dirname(resolve(path));
  const pem = (inline: keyof ProfileFile, file: keyof ProfileFile): string => {
    const text = profile[inline];
    const ref = profile[file];
    if (text !== undefined && ref !== undefined) throw new HavenError('INVALID_ARGUMENT', `profile ${path}: give ${inline} or ${file}, not both`);
    if (typeof text === 'string' && text !== '') return text;
    if (typeof ref === 'string' && ref !== '') return readPem(resolve(base, ref), `${file} of profile ${path}`);
    throw new HavenError('INVALID_ARGUMENT', `profile ${path}: needs ${inline} or ${file} (a non-empty string)`);
  };
  const controller = profile.controller;
  if (controller !== undefined && typeof controller !== 'string') {
    throw new HavenError('INVALID_ARGUMENT', `profile ${path}: controller must be a "HOST:PORT" string`);
  }
  return { tls: { caPem: pem('caPem', 'caFile'), certPem: pem('certPem', 'certFile'), keyPem: pem('keyPem', 'keyFile') }, address: controller };
}

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const haven = code === 'ENOENT' ? 'NOT_FOUND' : code === 'EACCES' || code === 'EPERM' ? 'PERMISSION_DENIED' : 'FAILED_PRECONDITION';
    throw new HavenError(haven, `cannot read ${what}: ${path}: ${code ?? String(err)}`, { cause: err });
  }
}
