package catalog

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Restore drills (ours; db/migrations/0009): an instance's opt-in periodic check that its latest completed
// backup restores.

// Drill results recorded on a backup.
const (
	DrillPassed = "passed"
	DrillFailed = "failed"
)

// InstanceTypeDrill marks a drill's throwaway instance (instances.type): it takes no quota, so its delete
// releases none.
const InstanceTypeDrill = "restore_drill"

// RestoreDrill is a restore_drills row.
type RestoreDrill struct {
	ID              string     `db:"id"`
	TenantID        string     `db:"tenant_id"`
	InstanceID      string     `db:"instance_id"`
	IntervalSeconds int        `db:"interval_seconds"`
	NextRunAt       time.Time  `db:"next_run_at"`
	LastRunAt       *time.Time `db:"last_run_at"`
	LastBackupID    string     `db:"last_backup_id"`
	LastResult      string     `db:"last_result"`
	LastError       string     `db:"last_error"`
	DrillInstanceID string     `db:"drill_instance_id"` // the throwaway instance of a run under way
	LeaseOwner      string     `db:"lease_owner"`
	LeaseUntil      *time.Time `db:"lease_until"`
	Created         time.Time  `db:"created"`
	Updated         time.Time  `db:"updated"`
}

const drillCols = `id, tenant_id, instance_id, interval_seconds, next_run_at, last_run_at,
	COALESCE(last_backup_id, '') AS last_backup_id, COALESCE(last_result, '') AS last_result,
	COALESCE(last_error, '') AS last_error, COALESCE(drill_instance_id, '') AS drill_instance_id,
	COALESCE(lease_owner, '') AS lease_owner, lease_until, created, updated`

// CreateRestoreDrill inserts an instance's drill (id and times filled in; NextRunAt zero = now); ErrConflict
// when the instance has one already.
func (d *DB) CreateRestoreDrill(ctx context.Context, r RestoreDrill) (RestoreDrill, error) {
	if r.ID == "" {
		r.ID = NewID()
	}
	now := d.now()
	r.Created, r.Updated = now, now
	if r.NextRunAt.IsZero() {
		r.NextRunAt = now
	}
	r.NextRunAt = r.NextRunAt.UTC().Truncate(time.Second)
	_, err := d.x.ExecContext(ctx, `INSERT INTO restore_drills (id, tenant_id, instance_id, interval_seconds, next_run_at,
		created, updated) VALUES (?, ?, ?, ?, ?, ?, ?)`, r.ID, r.TenantID, r.InstanceID, r.IntervalSeconds, r.NextRunAt, now, now)
	if isDuplicate(err) {
		return r, fail(ErrConflict, "Instance %s already has a restore drill.", r.InstanceID)
	}
	return r, err
}

// GetRestoreDrill returns a drill.
func (d *DB) GetRestoreDrill(ctx context.Context, id string) (RestoreDrill, error) {
	var r RestoreDrill
	err := d.x.GetContext(ctx, &r, "SELECT "+drillCols+" FROM restore_drills WHERE id = ?", id)
	return r, notFoundIf(err, fail(ErrNotFound, "Restore drill %s cannot be found.", id))
}

// ListRestoreDrills lists an instance's drills (zero or one).
func (d *DB) ListRestoreDrills(ctx context.Context, instanceID string) ([]RestoreDrill, error) {
	var rows []RestoreDrill
	err := d.x.SelectContext(ctx, &rows, "SELECT "+drillCols+" FROM restore_drills WHERE instance_id = ? ORDER BY created, id", instanceID)
	return rows, err
}

// DeleteRestoreDrill removes a drill (the results it recorded stay); an unknown one is ErrNotFound.
func (d *DB) DeleteRestoreDrill(ctx context.Context, id string) error {
	res, err := d.x.ExecContext(ctx, "DELETE FROM restore_drills WHERE id = ?", id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fail(ErrNotFound, "Restore drill %s cannot be found.", id)
	}
	return nil
}

// ClaimDueDrills leases up to limit drills due at now to owner until now+lease (leases.go): of several
// taskmanagers exactly one gets a drill.
func (d *DB) ClaimDueDrills(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]RestoreDrill, error) {
	ids, err := d.claimDue(ctx, "restore_drills", "next_run_at, created", owner, now, lease, limit)
	var out []RestoreDrill
	for _, id := range ids {
		r, gerr := d.GetRestoreDrill(ctx, id)
		if gerr != nil {
			return out, gerr
		}
		out = append(out, r)
	}
	return out, err
}

// RenewDrillLease extends owner's lease; ErrConflict when owner no longer holds it.
func (d *DB) RenewDrillLease(ctx context.Context, id, owner string, until time.Time) error {
	return d.renewLease(ctx, "restore_drills", "restore drill", id, owner, until)
}

// SetDrillInstance records (or, with "", clears) the throwaway instance of owner's run under way.
func (d *DB) SetDrillInstance(ctx context.Context, id, owner, instanceID string) error {
	res, err := d.x.ExecContext(ctx, "UPDATE restore_drills SET drill_instance_id = ?, updated = ? WHERE id = ? AND lease_owner = ?",
		nullString(instanceID), d.now(), id, owner)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fail(ErrConflict, "the lease of restore drill %s is no longer held by %s", id, owner)
	}
	return nil
}

// DrillRunEnd records a run's end (the backup drilled, "" when there was none, the result and why) and the next
// run, and releases owner's lease; ErrConflict when owner no longer holds it.
func (d *DB) DrillRunEnd(ctx context.Context, id, owner string, ran, next time.Time, backupID, result, msg string) error {
	res, err := d.x.ExecContext(ctx, `UPDATE restore_drills SET next_run_at = ?, last_run_at = ?, last_backup_id = ?,
		last_result = ?, last_error = ?, lease_owner = NULL, lease_until = NULL, updated = ? WHERE id = ? AND lease_owner = ?`,
		next.UTC().Truncate(time.Second), ran.UTC().Truncate(time.Second), nullString(backupID), nullString(result),
		nullString(truncMessage(msg)), d.now(), id, owner)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fail(ErrConflict, "the lease of restore drill %s is no longer held by %s", id, owner)
	}
	return nil
}

// DrillResult is a backup_drill_results row: the last drill of a backup.
type DrillResult struct {
	BackupID        string    `db:"backup_id"`
	DrillID         string    `db:"drill_id"`
	Result          string    `db:"result"` // DrillPassed / DrillFailed
	DrilledAt       time.Time `db:"drilled_at"`
	Message         string    `db:"message"`
	DrillInstanceID string    `db:"drill_instance_id"`
}

// RecordDrillResult records (replacing an earlier one) the result of a drill of a backup.
func (d *DB) RecordDrillResult(ctx context.Context, r DrillResult) error {
	_, err := d.x.ExecContext(ctx, `INSERT INTO backup_drill_results (backup_id, drill_id, result, drilled_at, message,
		drill_instance_id) VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE drill_id = VALUES(drill_id),
		result = VALUES(result), drilled_at = VALUES(drilled_at), message = VALUES(message),
		drill_instance_id = VALUES(drill_instance_id)`,
		r.BackupID, r.DrillID, r.Result, r.DrilledAt.UTC().Truncate(time.Second), nullString(truncMessage(r.Message)), nullString(r.DrillInstanceID))
	return err
}

// GetDrillResult returns the last drill result of a backup; ok is false when it was never drilled.
func (d *DB) GetDrillResult(ctx context.Context, backupID string) (r DrillResult, ok bool, err error) {
	err = d.x.GetContext(ctx, &r, `SELECT backup_id, drill_id, result, drilled_at, COALESCE(message, '') AS message,
		COALESCE(drill_instance_id, '') AS drill_instance_id FROM backup_drill_results WHERE backup_id = ?`, backupID)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

func truncMessage(s string) string {
	if len(s) > 1024 {
		return s[:1021] + "..."
	}
	return s
}
