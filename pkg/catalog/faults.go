package catalog

import (
	"context"
	"time"
	"unicode/utf8"
)

// Fault is the live instance_faults row of an instance (shown as `fault` in the instance view).
type Fault struct {
	ID         string    `db:"id"`
	InstanceID string    `db:"instance_id"`
	Message    string    `db:"message"`
	Details    string    `db:"details"`
	Created    time.Time `db:"created"`
	Updated    time.Time `db:"updated"`
}

// SaveFault records an error for an instance, updating its live fault in place if there is one. The message
// is truncated to 255 characters like Trove's.
func (d *DB) SaveFault(ctx context.Context, instanceID, message, details string) error {
	if utf8.RuneCountInString(message) > 255 {
		message = string([]rune(message)[:255])
	}
	now := d.now()
	res, err := d.x.ExecContext(ctx, "UPDATE instance_faults SET message = ?, details = ?, updated = ? WHERE instance_id = ? AND deleted = 0",
		message, details, now, instanceID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	_, err = d.x.ExecContext(ctx, `INSERT INTO instance_faults (id, instance_id, message, details, created, updated, deleted, deleted_at)
		VALUES (?, ?, ?, ?, ?, ?, 0, NULL)`, NewID(), instanceID, message, details, now, now)
	if isForeignKey(err) {
		return instanceNotFound(instanceID)
	}
	return err
}

// GetFault returns an instance's live fault, or ErrNotFound when it has none.
func (d *DB) GetFault(ctx context.Context, instanceID string) (Fault, error) {
	var f Fault
	err := d.x.GetContext(ctx, &f, "SELECT id, instance_id, message, details, created, updated FROM instance_faults WHERE instance_id = ? AND deleted = 0 ORDER BY updated DESC LIMIT 1", instanceID)
	return f, notFoundIf(err, fail(ErrNotFound, "Instance %s has no fault.", instanceID))
}
