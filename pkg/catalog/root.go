package catalog

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// RootEnabled reports whether root was ever enabled on the instance and not disabled since (Trove's
// Root.load: a root_enabled_history row whose deleted_at is not after created).
func (d *DB) RootEnabled(ctx context.Context, instanceID string) (bool, error) {
	var row struct {
		Created   *time.Time `db:"created"`
		DeletedAt *time.Time `db:"deleted_at"`
	}
	err := d.x.GetContext(ctx, &row, "SELECT created, deleted_at FROM root_enabled_history WHERE id = ?", instanceID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	disabled := row.DeletedAt != nil && (row.Created == nil || row.DeletedAt.After(*row.Created))
	return !disabled, nil
}

// RecordRoot records that userID enabled root (API root enable, taskmanager root_on_create, conductor
// report_root). A record that is still enabled is kept as it is, as in Trove's RootHistory.create.
func (d *DB) RecordRoot(ctx context.Context, instanceID, userID string) error {
	enabled, err := d.RootEnabled(ctx, instanceID)
	if err != nil || enabled {
		return err
	}
	_, err = d.x.ExecContext(ctx, "INSERT INTO root_enabled_history (id, `user`, created, deleted_at) VALUES (?, ?, ?, NULL) ON DUPLICATE KEY UPDATE `user` = VALUES(`user`), created = VALUES(created)",
		instanceID, nullString(userID), d.now())
	return err
}

// DisableRoot marks root disabled (deleted_at = now); without a record it does nothing.
func (d *DB) DisableRoot(ctx context.Context, instanceID string) error {
	_, err := d.x.ExecContext(ctx, "UPDATE root_enabled_history SET deleted_at = ? WHERE id = ?", d.now(), instanceID)
	return err
}
