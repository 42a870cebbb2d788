package catalog

import (
	"context"

	"github.com/jmoiron/sqlx"
)

// Replicas returns the live replicas of each given instance of a tenant (Trove's `slaves`: same tenant,
// slave_of_id = the instance; tenantID "" for sources of any tenant, as the mgmt list needs), oldest first:
// source id → replica ids. Sources without replicas are absent.
func (d *DB) Replicas(ctx context.Context, tenantID string, sourceIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(sourceIDs) == 0 {
		return out, nil
	}
	q, args, err := sqlx.In(`SELECT id, slave_of_id FROM instances
		WHERE (tenant_id = ? OR ? = '') AND deleted = 0 AND slave_of_id IN (?) ORDER BY created, id`, tenantID, tenantID, sourceIDs)
	if err != nil {
		return nil, err
	}
	rows, err := d.x.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, src string
		if err := rows.Scan(&id, &src); err != nil {
			return nil, err
		}
		out[src] = append(out[src], id)
	}
	return out, rows.Err()
}

// ReplicationSources returns the ids of the live instances (of any tenant) that have live replicas: what the
// taskmanager's automatic failover watches.
func (d *DB) ReplicationSources(ctx context.Context) ([]string, error) {
	var ids []string
	err := d.x.SelectContext(ctx, &ids, `SELECT s.id FROM instances s
		WHERE s.deleted = 0 AND EXISTS (SELECT 1 FROM instances r WHERE r.deleted = 0 AND r.slave_of_id = s.id)
		ORDER BY s.id`)
	return ids, err
}
