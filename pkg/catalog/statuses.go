package catalog

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trove-go/trove/pkg/status"
)

// ServiceStatusRow is a service_statuses row: the guest's last reported datastore status.
type ServiceStatusRow struct {
	ID                string     `db:"id"`
	InstanceID        string     `db:"instance_id"`
	StatusID          int        `db:"status_id"`
	StatusDescription string     `db:"status_description"`
	UpdatedAt         *time.Time `db:"updated_at"` // last heartbeat (or forced status); nil on legacy rows
}

// Status maps the row by code, as Trove does (so (34, "upgrading") reads as RESTARTING); unknown codes read
// as UNKNOWN.
func (r ServiceStatusRow) Status() status.ServiceStatus {
	if s, ok := status.ServiceStatusByCode(r.StatusID); ok {
		return s
	}
	return status.Unknown
}

// HeartbeatAge is now − updated_at; a row never updated is infinitely old.
func (r ServiceStatusRow) HeartbeatAge(now time.Time) time.Duration {
	if r.UpdatedAt == nil {
		return time.Duration(1<<63 - 1)
	}
	return now.Sub(*r.UpdatedAt)
}

const statusCols = "id, instance_id, status_id, status_description, updated_at"

// GetServiceStatus returns an instance's guest status row.
func (d *DB) GetServiceStatus(ctx context.Context, instanceID string) (ServiceStatusRow, error) {
	var r ServiceStatusRow
	err := d.x.GetContext(ctx, &r, "SELECT "+statusCols+" FROM service_statuses WHERE instance_id = ? ORDER BY updated_at DESC LIMIT 1", instanceID)
	return r, notFoundIf(err, fail(ErrNotFound, "Service status for instance %s could not be found.", instanceID))
}

// ServiceStatuses returns the status rows of many instances in one query (lists), keyed by instance id;
// instances without a row are absent.
func (d *DB) ServiceStatuses(ctx context.Context, instanceIDs []string) (map[string]ServiceStatusRow, error) {
	out := make(map[string]ServiceStatusRow, len(instanceIDs))
	if len(instanceIDs) == 0 {
		return out, nil
	}
	q, args, err := sqlx.In("SELECT "+statusCols+" FROM service_statuses WHERE instance_id IN (?) ORDER BY updated_at", instanceIDs)
	if err != nil {
		return nil, err
	}
	var rows []ServiceStatusRow
	if err := d.x.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.InstanceID] = r // the newest row wins
	}
	return out, nil
}

// SetServiceStatus forces an instance's guest status (API and taskmanager: new, restarting, paused, …) with
// updated_at = now. Missing row → ErrNotFound.
func (d *DB) SetServiceStatus(ctx context.Context, instanceID string, s status.ServiceStatus) error {
	res, err := d.x.ExecContext(ctx, "UPDATE service_statuses SET status_id = ?, status_description = ?, updated_at = ? WHERE instance_id = ?",
		s.Code, s.Description, d.now(), instanceID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fail(ErrNotFound, "Service status for instance %s could not be found.", instanceID)
	}
	return nil
}

// Heartbeat applies a guest heartbeat as Trove's conductor does (states.md §3), atomically per instance:
//  1. the instance's service_statuses row must exist (ErrNotFound);
//  2. ordering: with sent set, a message not newer than the last one seen (conductor_lastseen, method
//     "heartbeat") is discarded; sent nil is accepted;
//  3. a stored `restart required` status ignores heartbeats (nothing saved);
//  4. a non-empty description sets the status (unknown text → ErrBadRequest, nothing changes);
//  5. updated_at = now even when the status is unchanged (liveness).
//
// accepted reports whether the status row was saved.
func (d *DB) Heartbeat(ctx context.Context, instanceID, description string, sent *float64) (accepted bool, err error) {
	var newStatus *status.ServiceStatus
	if description != "" {
		s, ok := status.ServiceStatusByDescription(description)
		if !ok {
			return false, fail(ErrBadRequest, "Unknown service status %q in heartbeat from instance %s.", description, instanceID)
		}
		newStatus = &s
	}
	err = d.inTx(ctx, func(tx *sqlx.Tx) error {
		accepted = false
		var row ServiceStatusRow
		// Locking the status row serialises heartbeats of one instance, including the lastseen insert below.
		if err := tx.GetContext(ctx, &row, "SELECT "+statusCols+" FROM service_statuses WHERE instance_id = ? ORDER BY updated_at DESC LIMIT 1 FOR UPDATE", instanceID); err != nil {
			return notFoundIf(err, fail(ErrNotFound, "Service status for instance %s could not be found.", instanceID))
		}
		if sent != nil {
			fresh, err := d.newerThanLastSeen(ctx, tx, instanceID, "heartbeat", *sent)
			if err != nil || !fresh {
				return err
			}
		}
		if row.Status().Same(status.RestartRequired) {
			return nil
		}
		s := row.Status()
		if newStatus != nil {
			s = *newStatus
		}
		if _, err := tx.ExecContext(ctx, "UPDATE service_statuses SET status_id = ?, status_description = ?, updated_at = ? WHERE id = ?",
			s.Code, s.Description, d.now(), row.ID); err != nil {
			return err
		}
		accepted = true
		return nil
	})
	return accepted, err
}

// MessageIsFresh is the conductor's "message too old" check for other methods (update_backup): it records
// sent for (instance, method) and reports whether it is newer than the last one seen.
func (d *DB) MessageIsFresh(ctx context.Context, instanceID, method string, sent float64) (fresh bool, err error) {
	err = d.inTx(ctx, func(tx *sqlx.Tx) error {
		fresh, err = d.newerThanLastSeen(ctx, tx, instanceID, method, sent)
		return err
	})
	return fresh, err
}

func (d *DB) newerThanLastSeen(ctx context.Context, tx *sqlx.Tx, instanceID, method string, sent float64) (bool, error) {
	var last sql.NullFloat64
	err := tx.GetContext(ctx, &last, "SELECT sent FROM conductor_lastseen WHERE instance_id = ? AND method_name = ? FOR UPDATE", instanceID, method)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, "INSERT INTO conductor_lastseen (instance_id, method_name, sent) VALUES (?, ?, ?)", instanceID, method, sent)
		return err == nil, err
	case err != nil:
		return false, err
	case last.Valid && last.Float64 >= sent:
		return false, nil
	}
	_, err = tx.ExecContext(ctx, "UPDATE conductor_lastseen SET sent = ? WHERE instance_id = ? AND method_name = ?", sent, instanceID, method)
	return err == nil, err
}

// RunningBackups reports, for many instances in one query, which have a live backup in NEW, BUILDING or
// SAVING (the instance then shows BACKUP).
func (d *DB) RunningBackups(ctx context.Context, instanceIDs []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(instanceIDs) == 0 {
		return out, nil
	}
	q, args, err := sqlx.In("SELECT DISTINCT instance_id FROM backups WHERE instance_id IN (?) AND COALESCE(deleted, 0) = 0 AND state IN ('NEW', 'BUILDING', 'SAVING')", instanceIDs)
	if err != nil {
		return nil, err
	}
	var ids []string
	if err := d.x.SelectContext(ctx, &ids, q, args...); err != nil {
		return nil, err
	}
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}
