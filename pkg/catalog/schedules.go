package catalog

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trove-go/trove/pkg/status"
)

// BackupSchedule is a backup_schedules row (ours): an instance's periodic full or incremental backups and the
// retention rule applied to the backups it made. KeepCount/KeepDays 0 = that rule is off (both off: keep all).
type BackupSchedule struct {
	ID              string     `db:"id"`
	TenantID        string     `db:"tenant_id"`
	InstanceID      string     `db:"instance_id"`
	Name            string     `db:"name"`
	BackupType      string     `db:"backup_type"` // full / incremental
	IntervalSeconds int        `db:"interval_seconds"`
	KeepCount       int        `db:"keep_count"`
	KeepDays        int        `db:"keep_days"`
	NextRunAt       time.Time  `db:"next_run_at"`
	LastRunAt       *time.Time `db:"last_run_at"`
	LastBackupID    string     `db:"last_backup_id"`
	LastError       string     `db:"last_error"`
	LeaseOwner      string     `db:"lease_owner"`
	LeaseUntil      *time.Time `db:"lease_until"`
	Created         time.Time  `db:"created"`
	Updated         time.Time  `db:"updated"`
}

const scheduleCols = `id, tenant_id, instance_id, name, backup_type, interval_seconds, keep_count, keep_days, next_run_at,
	last_run_at, COALESCE(last_backup_id, '') AS last_backup_id, COALESCE(last_error, '') AS last_error,
	COALESCE(lease_owner, '') AS lease_owner, lease_until, created, updated`

// CreateBackupSchedule inserts a schedule (id and times filled in; NextRunAt zero = now).
func (d *DB) CreateBackupSchedule(ctx context.Context, s BackupSchedule) (BackupSchedule, error) {
	if s.ID == "" {
		s.ID = NewID()
	}
	now := d.now()
	s.Created, s.Updated = now, now
	if s.NextRunAt.IsZero() {
		s.NextRunAt = now
	}
	s.NextRunAt = s.NextRunAt.UTC().Truncate(time.Second)
	_, err := d.x.ExecContext(ctx, `INSERT INTO backup_schedules (id, tenant_id, instance_id, name, backup_type,
		interval_seconds, keep_count, keep_days, next_run_at, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.TenantID, s.InstanceID, s.Name, s.BackupType, s.IntervalSeconds, s.KeepCount, s.KeepDays, s.NextRunAt, now, now)
	return s, err
}

// GetBackupSchedule returns a schedule.
func (d *DB) GetBackupSchedule(ctx context.Context, id string) (BackupSchedule, error) {
	var s BackupSchedule
	err := d.x.GetContext(ctx, &s, "SELECT "+scheduleCols+" FROM backup_schedules WHERE id = ?", id)
	return s, notFoundIf(err, fail(ErrNotFound, "Backup schedule %s cannot be found.", id))
}

// ListBackupSchedules lists an instance's schedules, oldest first.
func (d *DB) ListBackupSchedules(ctx context.Context, instanceID string) ([]BackupSchedule, error) {
	var rows []BackupSchedule
	err := d.x.SelectContext(ctx, &rows, "SELECT "+scheduleCols+" FROM backup_schedules WHERE instance_id = ? ORDER BY created, id", instanceID)
	return rows, err
}

// DeleteBackupSchedule removes a schedule and its run records (its backups stay); an unknown one is ErrNotFound.
func (d *DB) DeleteBackupSchedule(ctx context.Context, id string) error {
	res, err := d.x.ExecContext(ctx, "DELETE FROM backup_schedules WHERE id = ?", id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fail(ErrNotFound, "Backup schedule %s cannot be found.", id)
	}
	_, err = d.x.ExecContext(ctx, "DELETE FROM backup_schedule_runs WHERE schedule_id = ?", id)
	return err
}

// ClaimDueSchedules leases up to limit schedules due at now (next_run_at ≤ now) whose lease is free or expired
// to owner until now+lease, each by one conditional UPDATE: of several taskmanagers exactly one gets a schedule.
// Due order: earliest first, full before incremental at the same time.
func (d *DB) ClaimDueSchedules(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]BackupSchedule, error) {
	ids, err := d.claimDue(ctx, "backup_schedules", "next_run_at, backup_type = 'incremental', created", owner, now, lease, limit)
	var out []BackupSchedule
	for _, id := range ids {
		s, gerr := d.GetBackupSchedule(ctx, id)
		if gerr != nil {
			return out, gerr
		}
		out = append(out, s)
	}
	return out, err
}

// RenewScheduleLease extends owner's lease; ErrConflict when owner no longer holds it.
func (d *DB) RenewScheduleLease(ctx context.Context, id, owner string, until time.Time) error {
	return d.renewLease(ctx, "backup_schedules", "backup schedule", id, owner, until)
}

// ScheduleRunBackup returns the backup id of a schedule's run for slot, recording backupID for it when the slot
// has none yet (then fresh is true). A second caller for the same slot gets the first one's id.
func (d *DB) ScheduleRunBackup(ctx context.Context, scheduleID string, slot time.Time, backupID string) (id string, fresh bool, err error) {
	res, err := d.x.ExecContext(ctx, "INSERT IGNORE INTO backup_schedule_runs (schedule_id, slot, backup_id, created) VALUES (?, ?, ?, ?)",
		scheduleID, slot.UTC().Truncate(time.Second), backupID, d.now())
	if err != nil {
		return "", false, err
	}
	n, _ := res.RowsAffected()
	err = d.x.GetContext(ctx, &id, "SELECT backup_id FROM backup_schedule_runs WHERE schedule_id = ? AND slot = ?",
		scheduleID, slot.UTC().Truncate(time.Second))
	return id, n == 1, err
}

// ScheduleBackupIDs lists the backups a schedule made (live or not), oldest slot first.
func (d *DB) ScheduleBackupIDs(ctx context.Context, scheduleID string) ([]string, error) {
	var ids []string
	err := d.x.SelectContext(ctx, &ids, "SELECT backup_id FROM backup_schedule_runs WHERE schedule_id = ? ORDER BY slot", scheduleID)
	return ids, err
}

// BackupRowExists reports whether a backups row exists, deleted or not.
func (d *DB) BackupRowExists(ctx context.Context, id string) (bool, error) {
	var one int
	err := d.x.GetContext(ctx, &one, "SELECT 1 FROM backups WHERE id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// ScheduleRunEnd records a run's end and the next slot, and releases owner's lease; ErrConflict when owner no
// longer holds it (another taskmanager took the schedule over: it records the run).
func (d *DB) ScheduleRunEnd(ctx context.Context, id, owner string, ran, next time.Time, backupID, runErr string) error {
	res, err := d.x.ExecContext(ctx, `UPDATE backup_schedules SET next_run_at = ?, last_run_at = ?, last_backup_id = ?,
		last_error = ?, lease_owner = NULL, lease_until = NULL, updated = ? WHERE id = ? AND lease_owner = ?`,
		next.UTC().Truncate(time.Second), ran.UTC().Truncate(time.Second), nullString(backupID), nullString(truncMessage(runErr)), d.now(), id, owner)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fail(ErrConflict, "the lease of backup schedule %s is no longer held by %s", id, owner)
	}
	return nil
}

// CreateBackupIfIdle is CreateBackup for a backup the caller starts on its own (a schedule): under the instance
// row's lock, so of two taskmanagers at most one starts a backup of an instance; ErrConflict when the instance
// already has a running (NEW, BUILDING, SAVING) backup.
func (d *DB) CreateBackupIfIdle(ctx context.Context, b Backup, def Defaults) (Backup, error) {
	if b.ID == "" {
		b.ID = NewID()
	}
	b.State = status.BackupNew
	now := d.now()
	b.Created, b.Updated, b.Deleted, b.DeletedAt = now, now, false, nil
	deltas := map[string]int{ResourceBackups: 1}
	if err := d.ensureUsages(ctx, b.TenantID, deltas); err != nil {
		return Backup{}, err
	}
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		var one int
		if err := tx.GetContext(ctx, &one, "SELECT 1 FROM instances WHERE id = ? FOR UPDATE", b.InstanceID); err != nil {
			return notFoundIf(err, fail(ErrNotFound, "Instance %s cannot be found.", b.InstanceID))
		}
		var running int
		if err := tx.GetContext(ctx, &running, `SELECT COUNT(*) FROM backups WHERE instance_id = ? AND COALESCE(deleted, 0) = 0
			AND state IN ('NEW', 'BUILDING', 'SAVING')`, b.InstanceID); err != nil {
			return err
		}
		if running > 0 {
			return fail(ErrConflict, "instance %s has a running backup", b.InstanceID)
		}
		return d.insertBackup(ctx, tx, b, deltas, def)
	})
	return b, err
}
