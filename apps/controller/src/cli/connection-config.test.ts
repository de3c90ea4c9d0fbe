import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dataDirLayout } from '../site/data-dir.js';
import { DEFAULT_CONTROLLER, resolveConnectionConfig } from './connection-config.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'haven-cli-conn-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

let made = 0;
function dataDir(address?: string): string {
  const root = join(dir, `data-${made++}`);
  const layout = dataDirLayout(root);
  mkdirSync(layout.tlsDir, { recursive: true });
  writeFileSync(layout.caCert, 'CA');
  writeFileSync(layout.adminCert, 'CERT');
  writeFileSync(layout.adminKey, 'KEY');
  if (address !== undefined) writeFileSync(layout.addressFile, `${address}\n`);
  return root;
}

describe('connection config', () => {
  it('takes the credential from --data and the address from the flag, env, address file, or default', () => {
    const data = dataDir('127.0.0.1:7001');
    expect(resolveConnectionConfig({ data }, {})).toEqual({ address: '127.0.0.1:7001', tls: { caPem: 'CA', certPem: 'CERT', keyPem: 'KEY' } });
    expect(resolveConnectionConfig({ data }, { HAVEN_CONTROLLER: 'h:7002' }).address).toBe('h:7002');
    expect(resolveConnectionConfig({ data, controller: 'h:7003' }, { HAVEN_CONTROLLER: 'h:7002' }).address).toBe('h:7003');
    expect(resolveConnectionConfig({}, { HAVEN_DATA: dataDir() }).address).toBe(DEFAULT_CONTROLLER);
  });

  it('reads a profile with inline PEMs or files relative to it; --data wins over it', () => {
    writeFileSync(join(dir, 'ca.pem'), 'FILE-CA');
    const profile = join(dir, 'p.json');
    writeFileSync(profile, JSON.stringify({ controller: 'ctl:7443', caFile: 'ca.pem', certPem: 'C', keyPem: 'K' }));
    expect(resolveConnectionConfig({}, { HAVEN_PROFILE: profile, HAVEN_DATA: '/nowhere' })).toEqual({
      address: 'ctl:7443',
      tls: { caPem: 'FILE-CA', certPem: 'C', keyPem: 'K' },
    });
    expect(resolveConnectionConfig({ data: dataDir() }, { HAVEN_PROFILE: profile }).tls.caPem).toBe('CA');
  });

  it('explains a missing or broken credential in one INVALID_ARGUMENT or NOT_FOUND line', () => {
    expect(() => resolveConnectionConfig({}, {})).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/--data DIR/) }));
    const profile = join(dir, 'p.json');
    writeFileSync(profile, JSON.stringify({ caPem: 'A', caFile: 'ca.pem', certPem: 'C', keyPem: 'K' }));
    expect(() => resolveConnectionConfig({}, { HAVEN_PROFILE: profile })).toThrow(/caPem or caFile, not both/);
    writeFileSync(profile, JSON.stringify({ caPem: 'A', certPem: 'C' }));
    expect(() => resolveConnectionConfig({}, { HAVEN_PROFILE: profile })).toThrow(/needs keyPem or keyFile/);
    expect(() => resolveConnectionConfig({ data: join(dir, 'none') }, {})).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    expect(() => resolveConnectionConfig({ data: dataDir(), controller: 'nohost' }, {})).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
