package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Quota resources, in the order Trove lists them.
const (
	ResourceInstances = "instances"
	ResourceRAM       = "ram"
	ResourceBackups   = "backups"
	ResourceVolumes   = "volumes"
)

// Resources lists the quota resources in Trove's display order.
var Resources = []string{ResourceInstances, ResourceRAM, ResourceBackups, ResourceVolumes}

// Defaults are the per-tenant hard limits used when a tenant has no quotas row: max_instances_per_tenant (10),
// max_ram_per_tenant (−1), max_volumes_per_tenant (40), max_backups_per_tenant (50). −1 is unlimited.
type Defaults struct {
	Instances, RAM, Volumes, Backups int
}

// TroveDefaults are Trove's option defaults.
var TroveDefaults = Defaults{Instances: 10, RAM: -1, Volumes: 40, Backups: 50}

func (d Defaults) limit(resource string) int {
	switch resource {
	case ResourceInstances:
		return d.Instances
	case ResourceRAM:
		return d.RAM
	case ResourceVolumes:
		return d.Volumes
	case ResourceBackups:
		return d.Backups
	}
	return -1
}

// Quota is one resource's hard limit and usage for a tenant.
type Quota struct {
	Resource string
	Limit    int // −1 = unlimited
	InUse    int
	Reserved int
}

// GetQuotas returns the tenant's limits (quotas rows, else defaults) with usage, in Resources order.
func (d *DB) GetQuotas(ctx context.Context, tenant string, def Defaults) ([]Quota, error) {
	limits, err := hardLimits(ctx, d.x, tenant, def)
	if err != nil {
		return nil, err
	}
	use, err := d.Usages(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]Quota, 0, len(Resources))
	for _, r := range Resources {
		out = append(out, Quota{Resource: r, Limit: limits[r], InUse: use[r].InUse, Reserved: use[r].Reserved})
	}
	return out, nil
}

func hardLimits(ctx context.Context, q sqlx.QueryerContext, tenant string, def Defaults) (map[string]int, error) {
	var rows []struct {
		Resource string `db:"resource"`
		Limit    int    `db:"hard_limit"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, "SELECT resource, COALESCE(hard_limit, -1) AS hard_limit FROM quotas WHERE tenant_id = ?", tenant); err != nil {
		return nil, err
	}
	limits := map[string]int{}
	for _, r := range Resources {
		limits[r] = def.limit(r)
	}
	for _, r := range rows {
		limits[r.Resource] = r.Limit
	}
	return limits, nil
}

// Usage is a quota_usages row.
type Usage struct {
	InUse    int `db:"in_use"`
	Reserved int `db:"reserved"`
}

// Usages returns the tenant's usage per resource (missing rows read as zero).
func (d *DB) Usages(ctx context.Context, tenant string) (map[string]Usage, error) {
	var rows []struct {
		Resource string `db:"resource"`
		Usage
	}
	err := d.x.SelectContext(ctx, &rows, "SELECT resource, COALESCE(in_use, 0) AS in_use, COALESCE(reserved, 0) AS reserved FROM quota_usages WHERE tenant_id = ?", tenant)
	out := map[string]Usage{}
	for _, r := range rows {
		out[r.Resource] = r.Usage
	}
	return out, err
}

// SetQuota sets a tenant's hard limit for one resource (mgmt API). Unknown resource → ErrNotFound; a limit
// below −1 → ErrBadRequest.
func (d *DB) SetQuota(ctx context.Context, tenant, resource string, limit int) error {
	known := false
	for _, r := range Resources {
		known = known || r == resource
	}
	if !known {
		return fail(ErrNotFound, "Unknown quota resources ['%s'].", resource)
	}
	if limit < -1 {
		return fail(ErrBadRequest, "Quota limit '%d' for %s is not valid.", limit, resource)
	}
	now := d.now()
	_, err := d.x.ExecContext(ctx, `INSERT INTO quotas (id, created, updated, tenant_id, resource, hard_limit)
		VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE hard_limit = VALUES(hard_limit), updated = VALUES(updated)`,
		NewID(), now, now, tenant, resource, limit)
	return err
}

// ChangeUsage applies quota deltas for a tenant on its own (backup create/delete, volume resize): positive
// deltas are checked against the limits, all under row locks. For instance create/delete use CreateInstance and
// DeleteInstance, which do this in the same transaction as the row change.
func (d *DB) ChangeUsage(ctx context.Context, tenant string, deltas map[string]int, def Defaults) error {
	if err := d.ensureUsages(ctx, tenant, deltas); err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *sqlx.Tx) error { return d.applyQuota(ctx, tx, tenant, deltas, &def) })
}

// ensureUsages creates missing quota_usages rows (0/0) in their own short statements, so that the main
// transaction only locks existing rows and concurrent creators never deadlock on inserts.
func (d *DB) ensureUsages(ctx context.Context, tenant string, deltas map[string]int) error {
	now := d.now()
	for _, r := range sortedKeys(deltas) {
		if _, err := d.x.ExecContext(ctx, `INSERT INTO quota_usages (id, created, updated, tenant_id, in_use, reserved, resource)
			VALUES (?, ?, ?, ?, 0, 0, ?) ON DUPLICATE KEY UPDATE id = id`, NewID(), now, now, tenant, r); err != nil {
			return err
		}
	}
	return nil
}

// applyQuota is Trove's run_with_quotas inside one transaction: lock the tenant's usage rows (sorted, so
// concurrent callers queue instead of deadlocking), check every positive delta against its hard limit
// (in_use + reserved + delta ≤ limit unless the limit is negative) when def is not nil, then commit the deltas
// (in_use floored at 0) and record Committed reservations. Rows must exist (ensureUsages).
func (d *DB) applyQuota(ctx context.Context, tx *sqlx.Tx, tenant string, deltas map[string]int, def *Defaults) error {
	resources := sortedKeys(deltas)
	if len(resources) == 0 {
		return nil
	}
	query, args, err := sqlx.In(`SELECT id, resource, COALESCE(in_use, 0) AS in_use, COALESCE(reserved, 0) AS reserved
		FROM quota_usages WHERE tenant_id = ? AND resource IN (?) ORDER BY resource FOR UPDATE`, tenant, resources)
	if err != nil {
		return err
	}
	var rows []struct {
		ID       string `db:"id"`
		Resource string `db:"resource"`
		Usage
	}
	if err := tx.SelectContext(ctx, &rows, tx.Rebind(query), args...); err != nil {
		return err
	}
	if len(rows) != len(resources) {
		return fmt.Errorf("catalog: quota usage rows missing for tenant %s (%d of %d)", tenant, len(rows), len(resources))
	}
	if def != nil {
		limits, err := hardLimits(ctx, tx, tenant, *def)
		if err != nil {
			return err
		}
		var over []string
		for _, r := range rows {
			delta := deltas[r.Resource]
			if limit := limits[r.Resource]; delta > 0 && limit >= 0 && r.InUse+r.Reserved+delta > limit {
				over = append(over, r.Resource)
			}
		}
		if len(over) > 0 {
			sort.Strings(over)
			return &QuotaExceededError{Resources: over}
		}
	}
	now := d.now()
	for _, r := range rows {
		delta := deltas[r.Resource]
		if _, err := tx.ExecContext(ctx, "UPDATE quota_usages SET in_use = GREATEST(COALESCE(in_use, 0) + ?, 0), updated = ? WHERE id = ?", delta, now, r.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO reservations (created, updated, id, usage_id, delta, status) VALUES (?, ?, ?, ?, ?, 'Committed')", now, now, NewID(), r.ID, delta); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v != 0 && strings.TrimSpace(k) != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// TenantQuota is one quota resource of one tenant, for Trove's periodic dbaas.quota notifications.
type TenantQuota struct {
	Tenant string
	Quota
	Updated time.Time // quota_usages.updated; zero when the tenant has no usage row for the resource
}

// AllQuotas returns the quotas of every tenant the catalog knows (a quotas or quota_usages row), by tenant and in
// Resources order. Trove lists the tenants from Nova; the catalog has every tenant that ever held a resource.
func (d *DB) AllQuotas(ctx context.Context, def Defaults) ([]TenantQuota, error) {
	var tenants []string
	if err := d.x.SelectContext(ctx, &tenants, `SELECT tenant_id FROM quota_usages WHERE tenant_id IS NOT NULL
		UNION SELECT tenant_id FROM quotas WHERE tenant_id IS NOT NULL ORDER BY 1`); err != nil {
		return nil, err
	}
	var out []TenantQuota
	for _, t := range tenants {
		qs, err := d.GetQuotas(ctx, t, def)
		if err != nil {
			return nil, err
		}
		var rows []struct {
			Resource string       `db:"resource"`
			Updated  sql.NullTime `db:"updated"`
		}
		if err := d.x.SelectContext(ctx, &rows, "SELECT resource, updated FROM quota_usages WHERE tenant_id = ?", t); err != nil {
			return nil, err
		}
		updated := map[string]time.Time{}
		for _, r := range rows {
			if r.Updated.Valid {
				updated[r.Resource] = r.Updated.Time
			}
		}
		for _, q := range qs {
			out = append(out, TenantQuota{Tenant: t, Quota: q, Updated: updated[q.Resource]})
		}
	}
	return out, nil
}
