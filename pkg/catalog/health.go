package catalog

import (
	"context"
	"time"
)

// Health is an instance's instance_health row: the database's health its guest reported with its last
// heartbeat (ours; Trove's guests report none).
type Health struct {
	InstanceID     string    `db:"instance_id"`
	Up             bool      `db:"up"`
	Connections    int       `db:"connections"`
	ReplicationLag *float64  `db:"replication_lag"` // seconds behind the source; nil on a source or standalone
	UpdatedAt      time.Time `db:"updated_at"`
}

// SetHealth records what an instance's guest reported (the conductor, with an accepted heartbeat).
func (d *DB) SetHealth(ctx context.Context, h Health) error {
	_, err := d.x.ExecContext(ctx, `INSERT INTO instance_health (instance_id, up, connections, replication_lag, updated_at)
		VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE up = VALUES(up), connections = VALUES(connections),
		replication_lag = VALUES(replication_lag), updated_at = VALUES(updated_at)`,
		h.InstanceID, h.Up, h.Connections, h.ReplicationLag, d.now().UTC())
	return err
}

// GetHealth returns an instance's last reported health (ErrNotFound when its guest never reported one).
func (d *DB) GetHealth(ctx context.Context, instanceID string) (Health, error) {
	var h Health
	err := d.x.GetContext(ctx, &h, "SELECT instance_id, up, connections, replication_lag, updated_at FROM instance_health WHERE instance_id = ?", instanceID)
	return h, notFoundIf(err, fail(ErrNotFound, "No health was reported for instance %s.", instanceID))
}
