package catalog

import (
	"context"
	"time"
)

// Leases of periodic jobs (backup_schedules, restore_drills): a row is due when next_run_at ≤ now; a taskmanager
// takes it by setting lease_owner/lease_until in one conditional UPDATE, so of several taskmanagers exactly one
// gets a due row, and a row whose owner died is free again once lease_until passes.

// claimDue leases up to limit due rows of table (ordered by order) whose lease is free or expired to owner until
// now+lease; it returns the ids this caller got.
func (d *DB) claimDue(ctx context.Context, table, order, owner string, now time.Time, lease time.Duration, limit int) ([]string, error) {
	now = now.UTC().Truncate(time.Second)
	var ids []string
	if err := d.x.SelectContext(ctx, &ids, `SELECT id FROM `+table+` WHERE next_run_at <= ?
		AND (lease_until IS NULL OR lease_until < ?) ORDER BY `+order+` LIMIT ?`, now, now, limit); err != nil {
		return nil, err
	}
	var out []string
	for _, id := range ids {
		res, err := d.x.ExecContext(ctx, `UPDATE `+table+` SET lease_owner = ?, lease_until = ? WHERE id = ?
			AND next_run_at <= ? AND (lease_until IS NULL OR lease_until < ?)`, owner, now.Add(lease), id, now, now)
		if err != nil {
			return out, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // another taskmanager was first
		}
		out = append(out, id)
	}
	return out, nil
}

// renewLease extends owner's lease of a row of table; ErrConflict when owner no longer holds it.
func (d *DB) renewLease(ctx context.Context, table, what, id, owner string, until time.Time) error {
	res, err := d.x.ExecContext(ctx, "UPDATE "+table+" SET lease_until = ? WHERE id = ? AND lease_owner = ?",
		until.UTC().Truncate(time.Second), id, owner)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fail(ErrConflict, "the lease of %s %s is no longer held by %s", what, id, owner)
	}
	return nil
}
