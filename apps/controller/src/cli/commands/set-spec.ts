import { create } from '@bufbuild/protobuf';
import { HavenError, compileGlob } from '@haven/core';
import { SetSpecSchema, StandbySchema } from '@haven/proto';
import type { SetSpec, Standby } from '@haven/proto';
import { parseHostTarget, requireAbsolute } from '../host-target.js';

export interface SetSpecFlags {
  host?: string | undefined;
  path?: string | undefined;
  device?: string | undefined;
  exclude?: string[] | undefined;
  retention?: string | undefined;
  'replicate-to'?: string[] | undefined;
  standby?: string | undefined;
  sync?: boolean | undefined;
}

export function standbyOf(text: string): Standby {
  const t = parseHostTarget(text, '--standby', { allowSite: true });
  return create(StandbySchema, { site: t.site, host: t.host, target: t.target });
}

function checkExcludes(patterns: readonly string[]): string[] {
  // Checked here too so a typo fails before anything is sent; the controller checks again.
  for (const p of patterns) compileGlob(p);
  return [...patterns];
}

/** `haven set create` flags as the SetSpec of CreateSetRequest. */
export function setSpecForCreate(name: string, flags: SetSpecFlags): SetSpec {
  if (flags.host === undefined || flags.host === '') throw new HavenError('INVALID_ARGUMENT', 'missing --host HOST');
  if ((flags.path === undefined) === (flags.device === undefined)) {
    throw new HavenError('INVALID_ARGUMENT', 'give exactly one of --path DIR (a directory tree) or --device PATH (a block device or image)');
  }
  if (flags.device !== undefined && (flags.exclude?.length ?? 0) > 0) {
    throw new HavenError('INVALID_ARGUMENT', '--exclude applies to --path sets only');
  }
  const replicateTo = flags['replicate-to'] ?? [];
  if (flags.sync === true && replicateTo.length === 0) throw new HavenError('INVALID_ARGUMENT', '--sync needs at least one --replicate-to SITE');
  return create(SetSpecSchema, {
    name,
    host: flags.host,
    source: flags.path !== undefined ? { case: 'path', value: requireAbsolute(flags.path, '--path') } : { case: 'device', value: requireAbsolute(flags.device ?? '', '--device') },
    excludes: checkExcludes(flags.exclude ?? []),
    retention: flags.retention ?? '',
    replicateTo,
    ...(flags.standby === undefined ? {} : { standby: standbyOf(flags.standby) }),
    sync: flags.sync === true,
  });
}

export interface SetUpdateFlags {
  exclude?: string[] | undefined;
  'clear-excludes'?: boolean | undefined;
  retention?: string | undefined;
  'replicate-to'?: string[] | undefined;
  'clear-replicate-to'?: boolean | undefined;
  standby?: string | undefined;
  'clear-standby'?: boolean | undefined;
  sync?: boolean | undefined;
  async?: boolean | undefined;
}

/** `haven set update` flags as a SetSpec and the update mask naming exactly the fields given. */
export function setSpecForUpdate(name: string, flags: SetUpdateFlags): { spec: SetSpec; paths: string[] } {
  const spec = create(SetSpecSchema, { name });
  const paths: string[] = [];
  const exclusive = (a: boolean, b: boolean, what: string): void => {
    if (a && b) throw new HavenError('INVALID_ARGUMENT', `${what} contradict each other`);
  };
  exclusive(flags.exclude !== undefined, flags['clear-excludes'] === true, '--exclude and --clear-excludes');
  exclusive(flags['replicate-to'] !== undefined, flags['clear-replicate-to'] === true, '--replicate-to and --clear-replicate-to');
  exclusive(flags.standby !== undefined, flags['clear-standby'] === true, '--standby and --clear-standby');
  exclusive(flags.sync === true, flags.async === true, '--sync and --async');
  if (flags.exclude !== undefined || flags['clear-excludes'] === true) {
    spec.excludes = checkExcludes(flags.exclude ?? []);
    paths.push('excludes');
  }
  if (flags.retention !== undefined) {
    spec.retention = flags.retention;
    paths.push('retention');
  }
  if (flags['replicate-to'] !== undefined || flags['clear-replicate-to'] === true) {
    spec.replicateTo = flags['replicate-to'] ?? [];
    paths.push('replicate_to');
  }
  if (flags.standby !== undefined || flags['clear-standby'] === true) {
    if (flags.standby !== undefined) spec.standby = standbyOf(flags.standby);
    paths.push('standby');
  }
  if (flags.sync === true || flags.async === true) {
    spec.sync = flags.sync === true;
    paths.push('sync');
  }
  if (paths.length === 0) throw new HavenError('INVALID_ARGUMENT', 'nothing to update (see haven set update --help)');
  return { spec, paths };
}
