package catalog

import (
	"context"
	"errors"
	"time"
)

// RootHistory is a root_enabled_history row (id = instance id).
type RootHistory struct {
	InstanceID string     `db:"id"`
	User       string     `db:"user"` // user id that enabled root
	Created    *time.Time `db:"created"`
	DeletedAt  *time.Time `db:"deleted_at"` // set when root was disabled
}

// Enabled is Trove's Root.load: the row exists and deleted_at is not after created.
func (h RootHistory) Enabled() bool {
	return !(h.DeletedAt != nil && (h.Created == nil || h.DeletedAt.After(*h.Created)))
}

// GetRootHistory returns an instance's row (mgmt root view), or ErrNotFound when root was never enabled.
func (d *DB) GetRootHistory(ctx context.Context, instanceID string) (RootHistory, error) {
	var h RootHistory
	err := d.x.GetContext(ctx, &h, "SELECT id, COALESCE(`user`, '') AS `user`, created, deleted_at FROM root_enabled_history WHERE id = ?", instanceID)
	return h, notFoundIf(err, fail(ErrNotFound, "Root was never enabled on instance %s.", instanceID))
}

// RootEnabled reports whether root was ever enabled on the instance and not disabled since.
func (d *DB) RootEnabled(ctx context.Context, instanceID string) (bool, error) {
	h, err := d.GetRootHistory(ctx, instanceID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil && h.Enabled(), err
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
