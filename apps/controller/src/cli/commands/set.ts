import { create } from '@bufbuild/protobuf';
import { FieldMaskSchema } from '@bufbuild/protobuf/wkt';
import { CreateSetResponseSchema, GetSetResponseSchema, ListSetsResponseSchema, SetKindSchema, SetStateSchema, UpdateSetResponseSchema } from '@haven/proto';
import type { ProtectionSet } from '@haven/proto';
import { defineCommand } from '../command.js';
import { enumLabel, formatAgo, formatFields, formatPoint, formatTime } from '../format.js';
import { printJson, printLines, printTable } from '../output.js';
import { formatBytes, formatDuration } from '../render-table.js';
import { setSpecForCreate, setSpecForUpdate } from './set-spec.js';
import { SET_HEADERS, setRows } from './status.js';

const STANDBY_HELP = 'where failover, drills and migration materialize the set: HOST:TARGET, or SITE/HOST:TARGET';

export const setCreateCommand = defineCommand({
  path: ['set', 'create'],
  summary: 'protect a directory tree or a block device of a host',
  usage: 'NAME --host HOST (--path DIR | --device PATH) [--exclude GLOB]... [--retention SPEC] [--replicate-to SITE]... [--standby HOST:TARGET] [--sync]',
  details:
    'Examples:\n' +
    '  haven set create www --host web1 --path /srv/www --exclude "*.tmp" --exclude cache/\n' +
    '  haven set create db --host db1 --device /dev/vg0/data --replicate-to beta --standby db2:/dev/vg0/data --sync',
  args: [{ name: 'NAME' }],
  options: {
    host: { type: 'string', value: 'HOST', description: 'enrolled host whose agent captures the set' },
    path: { type: 'string', value: 'DIR', description: 'absolute directory on the host (a files set)' },
    device: { type: 'string', value: 'PATH', description: 'absolute block device or image file on the host (a block set)' },
    exclude: { type: 'string', multiple: true, value: 'GLOB', description: 'skip matching paths (repeatable): * ? [] within a name, ** across' },
    retention: { type: 'string', value: 'SPEC', description: 'retention policy (default: the site default)' },
    'replicate-to': { type: 'string', multiple: true, value: 'SITE', description: 'paired site that keeps a replica (repeatable)' },
    standby: { type: 'string', value: 'HOST:TARGET', description: STANDBY_HELP },
    sync: { type: 'boolean', description: 'synchronous replication: acknowledge only once every replica has it (RPO 0)' },
  },
  async run(ctx, [name], opts) {
    const spec = setSpecForCreate(name ?? '', opts);
    const res = await ctx.admin().createSet({ spec });
    if (ctx.json) return printJson(ctx.io.stdout, CreateSetResponseSchema, res);
    return printLines(ctx.io.stdout, `created set ${res.set?.name ?? name ?? ''}; it starts with an initial sync once its agent reports`);
  },
});

export const setListCommand = defineCommand({
  path: ['set', 'list'],
  summary: 'list protection sets (homed here and replicas held here)',
  usage: '[--host HOST]',
  args: [],
  options: {
    host: { type: 'string', value: 'HOST', description: 'only sets of this host' },
  },
  async run(ctx, _args, opts) {
    const res = await ctx.admin().listSets({ host: opts.host ?? '' });
    if (ctx.json) return printJson(ctx.io.stdout, ListSetsResponseSchema, res);
    if (res.sets.length === 0) return printLines(ctx.io.stdout, 'no protection sets');
    return printTable(ctx.io.stdout, SET_HEADERS, setRows(res.sets));
  },
});

function setFields(s: ProtectionSet, nowMs: number): Array<[string, string]> {
  const spec = s.spec;
  const fields: Array<[string, string]> = [
    ['name', s.name],
    ['host', s.host],
    ['kind', enumLabel(SetKindSchema, s.kind).toLowerCase()],
    ['state', s.state === 0 ? '-' : enumLabel(SetStateSchema, s.state)],
    ['lag', formatDuration(s.lagSeconds)],
    ['backlog', `${formatBytes(s.backlogBytes)} in ${s.backlogFiles} entries`],
    ['last point', formatPoint(s.lastPoint)],
    ['epoch', `${s.epoch} (home site ${s.homeSite || '-'})`],
    ['paused', s.paused ? 'yes' : 'no'],
    ['source', spec?.source.case === undefined ? '-' : `${spec.source.case} ${spec.source.value}`],
    ['excludes', spec?.excludes.join(' ') || '-'],
    ['retention', spec?.retention || '(site default)'],
    ['replicate to', spec?.replicateTo.join(', ') || '-'],
    ['standby', spec?.standby === undefined ? '-' : `${spec.standby.site === '' ? '' : `${spec.standby.site}/`}${spec.standby.host}:${spec.standby.target}`],
    ['sync', spec?.sync === true ? 'yes' : 'no'],
    ['status at', `${formatTime(s.statusAt)} (${formatAgo(s.statusAt, nowMs)})`],
    ['created', formatTime(s.createdAt)],
  ];
  if (s.lastError !== undefined) fields.push(['last error', `${s.lastError.code}: ${s.lastError.message}`]);
  for (const e of s.epochs) fields.push(['epoch history', `${e.epoch} from seq ${e.firstSeq} at ${e.site}/${e.host} since ${formatTime(e.startedAt)}`]);
  return fields;
}

export const setShowCommand = defineCommand({
  path: ['set', 'show'],
  summary: 'show one set: configuration, state and epoch history',
  usage: 'SET',
  args: [{ name: 'SET' }],
  options: {},
  async run(ctx, [name]) {
    const res = await ctx.admin().getSet({ name: name ?? '' });
    if (ctx.json) return printJson(ctx.io.stdout, GetSetResponseSchema, res);
    if (res.set === undefined) return printLines(ctx.io.stdout, `set ${name ?? ''}: no details`);
    return printLines(ctx.io.stdout, formatFields(setFields(res.set, ctx.clock.now())));
  },
});

export const setUpdateCommand = defineCommand({
  path: ['set', 'update'],
  summary: 'change excludes, retention, replication, standby or sync mode of a set',
  usage: 'SET [--exclude GLOB]... [--clear-excludes] [--retention SPEC] [--replicate-to SITE]... [--clear-replicate-to] [--standby HOST:TARGET] [--clear-standby] [--sync | --async]',
  details: 'Only the fields named by flags change; --exclude and --replicate-to replace the whole list. Name, host and source are immutable.',
  args: [{ name: 'SET' }],
  options: {
    exclude: { type: 'string', multiple: true, value: 'GLOB', description: 'new exclude list (repeatable)' },
    'clear-excludes': { type: 'boolean', description: 'remove every exclude' },
    retention: { type: 'string', value: 'SPEC', description: 'new retention policy ("" for the site default)' },
    'replicate-to': { type: 'string', multiple: true, value: 'SITE', description: 'new list of replica sites (repeatable)' },
    'clear-replicate-to': { type: 'boolean', description: 'stop replicating to every site' },
    standby: { type: 'string', value: 'HOST:TARGET', description: STANDBY_HELP },
    'clear-standby': { type: 'boolean', description: 'remove the standby' },
    sync: { type: 'boolean', description: 'switch to synchronous replication' },
    async: { type: 'boolean', description: 'switch to asynchronous replication' },
  },
  async run(ctx, [name], opts) {
    const { spec, paths } = setSpecForUpdate(name ?? '', opts);
    const res = await ctx.admin().updateSet({ name: name ?? '', spec, updateMask: create(FieldMaskSchema, { paths }) });
    if (ctx.json) return printJson(ctx.io.stdout, UpdateSetResponseSchema, res);
    return printLines(ctx.io.stdout, `updated set ${name ?? ''}: ${paths.join(', ')}`);
  },
});
