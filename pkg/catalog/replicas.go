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

// Replication change kinds (replication_changes.kind).
const (
	ChangePromote = "promote"
	ChangeEject   = "eject"
)

// ReplicationChange is a replication_changes row: a role change of source's set in progress.
type ReplicationChange struct {
	SourceID string `db:"source_id"`
	TargetID string `db:"target_id"` // "" for an eject whose new source is not chosen yet
	Kind     string `db:"kind"`
}

// BeginReplicationChange records a change of c.SourceID's set; one already recorded for that source (a resumed
// change) is kept as it is.
func (d *DB) BeginReplicationChange(ctx context.Context, c ReplicationChange) error {
	_, err := d.x.ExecContext(ctx, `INSERT INTO replication_changes (source_id, target_id, kind, created) VALUES (?, NULLIF(?, ''), ?, ?)
		ON DUPLICATE KEY UPDATE source_id = source_id`, c.SourceID, c.TargetID, c.Kind, d.now().UTC())
	return err
}

// SetReplicationChangeTarget records the new source an eject chose.
func (d *DB) SetReplicationChangeTarget(ctx context.Context, sourceID, targetID string) error {
	_, err := d.x.ExecContext(ctx, "UPDATE replication_changes SET target_id = ? WHERE source_id = ?", targetID, sourceID)
	return err
}

// EndReplicationChange forgets the change of sourceID's set (done, or failed and reported).
func (d *DB) EndReplicationChange(ctx context.Context, sourceID string) error {
	_, err := d.x.ExecContext(ctx, "DELETE FROM replication_changes WHERE source_id = ?", sourceID)
	return err
}

// ReplicationChanges lists the changes in progress, oldest first.
func (d *DB) ReplicationChanges(ctx context.Context) ([]ReplicationChange, error) {
	var out []ReplicationChange
	err := d.x.SelectContext(ctx, &out, "SELECT source_id, COALESCE(target_id, '') AS target_id, kind FROM replication_changes ORDER BY created, source_id")
	return out, err
}
