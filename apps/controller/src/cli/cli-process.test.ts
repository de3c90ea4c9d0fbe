import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTempDirs, startControllerProcess } from '@haven/testing';
import type { ControllerProcess } from '@haven/testing';

let ctl: ControllerProcess;

beforeAll(async () => {
  ctl = await startControllerProcess({ site: 'alpha' });
});

afterAll(async () => {
  await ctl?.stop();
  removeTempDirs();
});

describe('haven CLI process', () => {
  it('prints help and exits 0', async () => {
    const r = await ctl.cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('haven [--controller HOST:PORT] [--data DIR]');
    expect(r.stdout).toContain('set create');
  });

  it('answers status from a live controller, or fails with one line', async () => {
    const r = await ctl.cli(['status']);
    if (r.code === 0) {
      expect(r.stdout).toContain('alpha');
    } else {
      expect(r.stderr).toMatch(/^haven: [A-Z_]+: [^\n]+\n$/);
      expect(r.stdout).toBe('');
    }
  });

  it('exits 2 with one line for an unknown flag', async () => {
    const r = await ctl.cli(['status', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('haven: INVALID_ARGUMENT: unknown option --bogus for "haven status" (see haven status --help)\n');
  });
});
