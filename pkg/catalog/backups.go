package catalog

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trove-go/trove/pkg/status"
)

// Backup is a backups row. Nullable text reads as "".
type Backup struct {
	ID                 string     `db:"id"`
	Name               string     `db:"name"`
	Description        string     `db:"description"`
	Location           string     `db:"location"`
	BackupType         string     `db:"backup_type"` // full / incremental
	Size               float64    `db:"size"`        // GB
	TenantID           string     `db:"tenant_id"`
	State              string     `db:"state"`
	InstanceID         string     `db:"instance_id"`
	Checksum           string     `db:"checksum"`
	Deleted            bool       `db:"deleted"`
	DeletedAt          *time.Time `db:"deleted_at"`
	Created            time.Time  `db:"created"`
	Updated            time.Time  `db:"updated"`
	ParentID           string     `db:"parent_id"`
	DatastoreVersionID string     `db:"datastore_version_id"`
	StorageDriver      string     `db:"storage_driver"` // swift / cinder
	// Ours (restore drills; migration 11; GetBackup only, a list leaves them empty): the JSON {database:
	// [table, ...]} the guest took when the backup completed ("" when none), and the contents' checksum the
	// first passing drill recorded.
	ContentManifest       string     `db:"content_manifest"`
	ContentChecksum       string     `db:"content_checksum"`        // hex SHA-256 of the table checksums
	ContentTableChecksums string     `db:"content_table_checksums"` // JSON {database: {table: checksum}}
	ContentChecksumAt     *time.Time `db:"content_checksum_at"`
}

// Running reports a NEW, BUILDING or SAVING backup.
func (b Backup) Running() bool { return status.BackupRunning(b.State) }

const backupCols = `id, name, COALESCE(description, '') AS description, COALESCE(location, '') AS location,
	COALESCE(backup_type, '') AS backup_type, COALESCE(size, 0) AS size, COALESCE(tenant_id, '') AS tenant_id, state,
	COALESCE(instance_id, '') AS instance_id, COALESCE(checksum, '') AS checksum, COALESCE(deleted, 0) AS deleted,
	deleted_at, COALESCE(created, TIMESTAMP'1970-01-01 00:00:00') AS created,
	COALESCE(updated, created, TIMESTAMP'1970-01-01 00:00:00') AS updated, COALESCE(parent_id, '') AS parent_id,
	COALESCE(datastore_version_id, '') AS datastore_version_id, COALESCE(storage_driver, '') AS storage_driver`

// backupContentCols are the content columns, read by GetBackup only (a list leaves them empty).
const backupContentCols = `, COALESCE(content_manifest, '') AS content_manifest, COALESCE(content_checksum, '') AS content_checksum,
	COALESCE(content_table_checksums, '') AS content_table_checksums, content_checksum_at`

// CreateBackup inserts a backup row (state NEW unless set; id and times filled in) and takes one `backups` quota
// in the same transaction; over quota → *QuotaExceededError and nothing is written.
func (d *DB) CreateBackup(ctx context.Context, b Backup, def Defaults) (Backup, error) {
	if b.ID == "" {
		b.ID = NewID()
	}
	if b.State == "" {
		b.State = status.BackupNew
	}
	now := d.now()
	b.Created, b.Updated, b.Deleted, b.DeletedAt = now, now, false, nil
	deltas := map[string]int{ResourceBackups: 1}
	if err := d.ensureUsages(ctx, b.TenantID, deltas); err != nil {
		return Backup{}, err
	}
	err := d.inTx(ctx, func(tx *sqlx.Tx) error { return d.insertBackup(ctx, tx, b, deltas, def) })
	return b, err
}

// insertBackup takes the quota and inserts b (times set by the caller) in tx.
func (d *DB) insertBackup(ctx context.Context, tx *sqlx.Tx, b Backup, deltas map[string]int, def Defaults) error {
	if err := d.applyQuota(ctx, tx, b.TenantID, deltas, &def); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO backups (id, name, description, location, backup_type, size, tenant_id,
		state, instance_id, checksum, backup_timestamp, deleted, created, updated, deleted_at, parent_id,
		datastore_version_id, storage_driver) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, ?, ?, NULL, ?, ?, ?)`,
		b.ID, b.Name, nullString(b.Description), nullString(b.Location), nullString(b.BackupType),
		sql.NullFloat64{Float64: b.Size, Valid: b.Size != 0}, b.TenantID, b.State, nullString(b.InstanceID),
		nullString(b.Checksum), b.Created, b.Updated, nullString(b.ParentID), nullString(b.DatastoreVersionID),
		nullString(b.StorageDriver))
	if isForeignKey(err) {
		return fail(ErrBadRequest, "Datastore version '%s' cannot be found.", b.DatastoreVersionID)
	}
	return err
}

// GetBackup returns a live backup, with its content columns.
func (d *DB) GetBackup(ctx context.Context, id string) (Backup, error) {
	var b Backup
	err := d.x.GetContext(ctx, &b, "SELECT "+backupCols+backupContentCols+" FROM backups WHERE id = ? AND COALESCE(deleted, 0) = 0", id)
	return b, notFoundIf(err, fail(ErrNotFound, "Backup %s cannot be found.", id))
}

// BackupFilter selects backups for a list; empty fields do not filter.
type BackupFilter struct {
	TenantID           string
	InstanceID         string
	DatastoreVersionID string
	Limit              int // ≤ 0: all
	Offset             int // the integer marker
}

// ListBackups lists live backups ordered by updated DESC with Trove's integer offset marker: next is
// offset+limit whenever the page is full, else "".
func (d *DB) ListBackups(ctx context.Context, f BackupFilter) (rows []Backup, next string, err error) {
	where := []string{"COALESCE(deleted, 0) = 0"}
	var args []any
	for col, v := range map[string]string{"tenant_id": f.TenantID, "instance_id": f.InstanceID, "datastore_version_id": f.DatastoreVersionID} {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	q := "SELECT " + backupCols + " FROM backups WHERE " + strings.Join(where, " AND ") + " ORDER BY updated DESC, id"
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit) + " OFFSET " + strconv.Itoa(max(f.Offset, 0))
	}
	if err := d.x.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, "", err
	}
	if f.Limit > 0 && len(rows) == f.Limit {
		next = strconv.Itoa(max(f.Offset, 0) + f.Limit)
	}
	return rows, next, nil
}

// BackupUpdate names the columns to change (the conductor's update_backup fields); nil leaves a column alone.
type BackupUpdate struct {
	State      *string
	Size       *float64
	BackupType *string
	Checksum   *string
	Location   *string
	// ContentManifest (ours): the guest's JSON {database: [table, ...]} at the backup's completion.
	ContentManifest *string
}

// UpdateBackup changes a backup row (deleted ones too, as Trove's conductor does) and its updated time.
func (d *DB) UpdateBackup(ctx context.Context, id string, u BackupUpdate) error {
	sets := []string{"updated = ?"}
	args := []any{d.now()}
	add := func(col string, v any) { sets, args = append(sets, col+" = ?"), append(args, v) }
	if u.State != nil {
		add("state", *u.State)
	}
	if u.Size != nil {
		add("size", *u.Size)
	}
	if u.BackupType != nil {
		add("backup_type", nullString(*u.BackupType))
	}
	if u.Checksum != nil {
		add("checksum", nullString(*u.Checksum))
	}
	if u.Location != nil {
		add("location", nullString(*u.Location))
	}
	if u.ContentManifest != nil {
		add("content_manifest", nullString(*u.ContentManifest))
	}
	res, err := d.x.ExecContext(ctx, "UPDATE backups SET "+strings.Join(sets, ", ")+" WHERE id = ?", append(args, id)...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fail(ErrNotFound, "Backup %s cannot be found.", id)
	}
	return nil
}

// RecordContentChecksum records the checksum of a backup's restored contents (digest, and the per-table JSON)
// taken at at, unless one is already recorded; recorded reports whether this call did it.
func (d *DB) RecordContentChecksum(ctx context.Context, id, digest, tables string, at time.Time) (recorded bool, err error) {
	res, err := d.x.ExecContext(ctx, `UPDATE backups SET content_checksum = ?, content_table_checksums = ?,
		content_checksum_at = ? WHERE id = ? AND content_checksum IS NULL`, digest, nullString(tables), at.UTC().Truncate(time.Second), id)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// DeleteBackup soft-deletes a backup (deleted=1, deleted_at, datastore_version_id NULL) and releases its
// `backups` quota in one transaction; a deleted backup changes nothing, an unknown one is ErrNotFound.
func (d *DB) DeleteBackup(ctx context.Context, id string) error {
	var tenant sql.NullString
	if err := d.x.GetContext(ctx, &tenant, "SELECT tenant_id FROM backups WHERE id = ?", id); err != nil {
		return notFoundIf(err, fail(ErrNotFound, "Backup %s cannot be found.", id))
	}
	deltas := map[string]int{ResourceBackups: -1}
	if err := d.ensureUsages(ctx, tenant.String, deltas); err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *sqlx.Tx) error {
		var deleted bool
		if err := tx.GetContext(ctx, &deleted, "SELECT COALESCE(deleted, 0) FROM backups WHERE id = ? FOR UPDATE", id); err != nil {
			return err
		}
		if deleted {
			return nil
		}
		now := d.now()
		if _, err := tx.ExecContext(ctx, "UPDATE backups SET deleted = 1, deleted_at = ?, updated = ?, datastore_version_id = NULL WHERE id = ?", now, now, id); err != nil {
			return err
		}
		return d.applyQuota(ctx, tx, tenant.String, deltas, nil)
	})
}

// FailRunningBackups marks an instance's running backups FAILED (reset_status); it returns how many changed.
func (d *DB) FailRunningBackups(ctx context.Context, instanceID string) (int64, error) {
	res, err := d.x.ExecContext(ctx, "UPDATE backups SET state = ?, updated = ? WHERE instance_id = ? AND COALESCE(deleted, 0) = 0 AND state IN ('NEW', 'BUILDING', 'SAVING')",
		status.BackupFailed, d.now(), instanceID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// BackupStrategy is a backup_strategy row: the Swift container a project's (InstanceID "") or one instance's
// backups go to.
type BackupStrategy struct {
	ID             string     `db:"id"`
	TenantID       string     `db:"tenant_id"`
	InstanceID     string     `db:"instance_id"`
	Backend        string     `db:"backend"`
	SwiftContainer string     `db:"swift_container"`
	Created        *time.Time `db:"created"`
}

const strategyCols = "id, tenant_id, instance_id, backend, COALESCE(swift_container, '') AS swift_container, created"

// SetBackupStrategy creates or updates the strategy of (tenant, instance) with backend swift.
func (d *DB) SetBackupStrategy(ctx context.Context, tenantID, instanceID, container string) (BackupStrategy, error) {
	_, err := d.x.ExecContext(ctx, `INSERT INTO backup_strategy (id, tenant_id, instance_id, backend, swift_container, created)
		VALUES (?, ?, ?, 'swift', ?, ?) ON DUPLICATE KEY UPDATE swift_container = VALUES(swift_container)`,
		NewID(), tenantID, instanceID, nullString(container), d.now())
	if err != nil {
		return BackupStrategy{}, err
	}
	var s BackupStrategy
	err = d.x.GetContext(ctx, &s, "SELECT "+strategyCols+" FROM backup_strategy WHERE tenant_id = ? AND instance_id = ?", tenantID, instanceID)
	return s, err
}

// ListBackupStrategies lists a tenant's strategies, optionally of one instance.
func (d *DB) ListBackupStrategies(ctx context.Context, tenantID, instanceID string) ([]BackupStrategy, error) {
	q, args := "SELECT "+strategyCols+" FROM backup_strategy WHERE tenant_id = ?", []any{tenantID}
	if instanceID != "" {
		q, args = q+" AND instance_id = ?", append(args, instanceID)
	}
	var out []BackupStrategy
	err := d.x.SelectContext(ctx, &out, q+" ORDER BY instance_id", args...)
	return out, err
}

// BackupStrategyFor returns the strategy that applies to an instance: its own, else the project default; ok is
// false when neither exists.
func (d *DB) BackupStrategyFor(ctx context.Context, tenantID, instanceID string) (s BackupStrategy, ok bool, err error) {
	err = d.x.GetContext(ctx, &s, "SELECT "+strategyCols+" FROM backup_strategy WHERE tenant_id = ? AND instance_id IN (?, '') ORDER BY instance_id DESC LIMIT 1", tenantID, instanceID)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	return s, err == nil, err
}

// DeleteBackupStrategy removes (tenant, instance)'s strategy; a missing one is not an error (Trove answers 202).
func (d *DB) DeleteBackupStrategy(ctx context.Context, tenantID, instanceID string) error {
	_, err := d.x.ExecContext(ctx, "DELETE FROM backup_strategy WHERE tenant_id = ? AND instance_id = ?", tenantID, instanceID)
	return err
}
