import { HavenError } from '@haven/core';
import type { HandlerContext } from '@haven/proto';
import { peerIdentity } from '@haven/transport';
import type { Catalog, Host } from '../catalog/catalog.js';

/** Who is calling, from the verified client certificate. */
export type Caller =
  | { kind: 'admin'; name: string }
  | { kind: 'host'; host: Host }
  | { kind: 'site'; site: string };

/** Certificate common names encode the role: `admin:NAME`, `host:NAME`, `site:NAME`. */
export const ROLE_PREFIX = { admin: 'admin:', host: 'host:', site: 'site:' } as const;

export interface CallerResolver {
  /** The caller, or UNAUTHENTICATED when it presented no usable certificate. */
  resolve(ctx: HandlerContext): Caller;
  requireAdmin(ctx: HandlerContext): { name: string };
  requireHost(ctx: HandlerContext): Host;
}

/**
 * Maps a verified peer certificate to a caller. Hosts are also checked against the
 * catalog by certificate fingerprint, so `haven host remove` revokes an agent at once.
 */
export function createCallerResolver(deps: { catalog: Catalog; trustedCaPems: () => readonly string[]; siteCaPem: string }): CallerResolver {
  function resolve(ctx: HandlerContext): Caller {
    const who = peerIdentity(ctx.peerCertificate, deps.trustedCaPems());
    if (who === undefined) throw new HavenError('UNAUTHENTICATED', 'a client certificate is required (enroll first, or use the admin credential)');
    const cn = who.commonName;
    const ownCa = who.issuerPem === deps.siteCaPem;
    if (ownCa && cn.startsWith(ROLE_PREFIX.admin)) return { kind: 'admin', name: cn.slice(ROLE_PREFIX.admin.length) };
    if (ownCa && cn.startsWith(ROLE_PREFIX.host)) {
      const host = deps.catalog.getHostByFingerprint(who.fingerprint);
      if (host === undefined || host.removedAtMs !== null) throw new HavenError('UNAUTHENTICATED', `host certificate for "${cn.slice(ROLE_PREFIX.host.length)}" is not enrolled or was removed`);
      return { kind: 'host', host };
    }
    if (cn.startsWith(ROLE_PREFIX.site)) return { kind: 'site', site: cn.slice(ROLE_PREFIX.site.length) };
    throw new HavenError('PERMISSION_DENIED', `certificate "${cn}" has no Haven role`);
  }
  return {
    resolve,
    requireAdmin(ctx) {
      const c = resolve(ctx);
      if (c.kind !== 'admin') throw new HavenError('PERMISSION_DENIED', 'this call needs the admin credential');
      return { name: c.name };
    },
    requireHost(ctx) {
      const c = resolve(ctx);
      if (c.kind !== 'host') throw new HavenError('PERMISSION_DENIED', 'this call is for enrolled agents');
      return c.host;
    },
  };
}
