/**
 * Keys as tenants (issue 23). Every API key is a tenant: what a request made (jobs, history
 * entries, files, search index rows) records the tenant's id, and every route shows a caller
 * only its own. The id is derived from the key (a domain-separated SHA-256, truncated), so
 * it is stable across restarts and no raw key is ever stored. An admin key (`--admin-key`)
 * sees every tenant's work and the unowned entries (made before tenancy, or with no keys).
 * With no keys configured at all (single-user local mode) the caller is `LOCAL`, which sees
 * everything, as before.
 */
import { createHash } from 'node:crypto';

/** Who is calling: the tenant id its work is stored under (null: unowned), and whether it sees everyone's. */
export interface Tenant {
  /** The owner recorded on what this caller makes; null in local mode (no keys configured). */
  readonly id: string | null;
  readonly admin: boolean;
}

/** The caller when no keys are configured: makes unowned things, sees everything (today's behaviour). */
export const LOCAL: Tenant = { id: null, admin: true };

/** A stable, non-reversible tenant id for an API key: `t_` + 24 hex digits of SHA-256("tessera-tenant\0" + key). */
export function tenantIdOf(key: string): string {
  return 't_' + createHash('sha256').update('tessera-tenant\0').update(key).digest('hex').slice(0, 24);
}

/** Whether `tenant` may see a thing owned by `owner` (null: unowned, only admins and local mode). */
export function canSee(tenant: Tenant, owner: string | null | undefined): boolean {
  return tenant.admin || (owner !== null && owner !== undefined && owner === tenant.id);
}

/** The owner filter of a listing: undefined (everything) for admins and local mode, else the tenant's id. */
export function ownerFilter(tenant: Tenant): string | undefined {
  return tenant.admin ? undefined : (tenant.id ?? undefined);
}

/** A caller with no key on a public route: owns nothing, sees nothing. */
export const NOBODY: Tenant = { id: null, admin: false };

/** The caller of a request, as the security plugin set it (NOBODY when it set none). */
export function callerOf(request: { tenant: Tenant | null }): Tenant {
  return request.tenant ?? NOBODY;
}
