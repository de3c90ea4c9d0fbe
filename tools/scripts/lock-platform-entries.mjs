#!/usr/bin/env node
// Adds lockfile entries for platform-specific optional packages that `npm install`
// could not resolve (a registry mirror that carries only some platforms' binaries).
// `npm ci` insists every optional dependency has a lock entry; an entry with `os`/`cpu`
// lets it skip the package on other platforms without fetching it.
import { readFileSync, writeFileSync } from 'node:fs';

const path = process.argv[2] ?? 'package-lock.json';
const lock = JSON.parse(readFileSync(path, 'utf8'));
const pkgs = lock.packages;

const OS = ['darwin', 'win32', 'linux', 'android', 'freebsd', 'openharmony', 'sunos', 'netbsd', 'openbsd', 'aix'];
const CPU = { arm64: 'arm64', aarch64: 'arm64', x64: 'x64', ia32: 'ia32', armv7: 'arm', arm: 'arm', ppc64: 'ppc64', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };

function platformOf(name) {
  const base = name.split('/').pop();
  const parts = base.split('-');
  const os = parts.find((p) => OS.includes(p));
  const cpu = parts.map((p) => CPU[p]).find((c) => c !== undefined);
  if (os === undefined || cpu === undefined) return undefined;
  const out = { os: [os], cpu: [cpu] };
  if (parts.includes('musl') || parts.includes('musleabihf')) out.libc = ['musl'];
  else if (os === 'linux' && (parts.includes('gnu') || parts.includes('gnueabihf'))) out.libc = ['glibc'];
  return out;
}

let added = 0;
for (const [loc, meta] of Object.entries(pkgs)) {
  for (const [dep, spec] of Object.entries(meta.optionalDependencies ?? {})) {
    // Resolution walks up from the dependent's node_modules to the root.
    const candidates = [];
    let dir = loc;
    for (;;) {
      candidates.push(`${dir === '' ? '' : `${dir}/`}node_modules/${dep}`);
      if (dir === '') break;
      const i = dir.lastIndexOf('/node_modules/');
      dir = i < 0 ? '' : dir.slice(0, i);
    }
    if (candidates.some((c) => pkgs[c] !== undefined)) continue;
    const platform = platformOf(dep);
    if (platform === undefined) continue;
    const version = spec.replace(/^[\^~=]/, '');
    pkgs[`node_modules/${dep}`] = { version, optional: true, ...platform };
    added++;
  }
}
// npm expects keys in sorted order within "packages" apart from the root entry.
const sorted = { '': pkgs[''] };
for (const k of Object.keys(pkgs).filter((k) => k !== '').sort()) sorted[k] = pkgs[k];
lock.packages = sorted;
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`added ${added} platform entries to ${path}`);
