import { HavenError } from '@haven/core';

/** Names of sites and hosts (common.proto). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export interface HostTarget {
  /** Empty unless written as SITE/HOST:TARGET. */
  readonly site: string;
  readonly host: string;
  /** Absolute path on that host. */
  readonly target: string;
}

/**
 * `HOST:TARGET` (`web2:/srv/www`), or `SITE/HOST:TARGET` where a site may be named. Names
 * cannot contain `:` or `/`, so the first `:` ends the host; the target must be absolute.
 */
export function parseHostTarget(text: string, flag: string, options: { allowSite: boolean }): HostTarget {
  const colon = text.indexOf(':');
  const form = options.allowSite ? '[SITE/]HOST:TARGET' : 'HOST:TARGET';
  if (colon < 0) throw new HavenError('INVALID_ARGUMENT', `${flag} wants ${form}, got "${text}"`);
  const left = text.slice(0, colon);
  const target = text.slice(colon + 1);
  const slash = left.indexOf('/');
  const site = slash < 0 ? '' : left.slice(0, slash);
  const host = slash < 0 ? left : left.slice(slash + 1);
  if (slash >= 0 && !options.allowSite) throw new HavenError('INVALID_ARGUMENT', `${flag} wants ${form}, got "${text}"`);
  if (slash >= 0 && !NAME.test(site)) throw new HavenError('INVALID_ARGUMENT', `${flag}: "${site}" is not a site name`);
  if (!NAME.test(host)) throw new HavenError('INVALID_ARGUMENT', `${flag}: "${host}" is not a host name`);
  requireAbsolute(target, flag);
  return { site, host, target };
}

/** Paths on agents' hosts are absolute: a relative one would depend on the agent's working directory. */
export function requireAbsolute(path: string, flag: string): string {
  if (!path.startsWith('/')) throw new HavenError('INVALID_ARGUMENT', `${flag} must be an absolute path, got "${path}"`);
  return path;
}
