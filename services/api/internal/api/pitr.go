package api

import (
	"time"

	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/services/api/internal/fault"
)

// checkRestoreTime validates restorePoint.restore_time (point-in-time recovery, ours): an RFC 3339 time, not
// before the backup was created and not in the future, for a PostgreSQL or MariaDB backup in a store the guest ships its
// WAL or binary log to (directory, s3). Whether the source's shipped WAL reaches it is known only to the guest, whose restore
// then fails with a fault naming the recoverable window.
func checkRestoreTime(raw string, b catalog.Backup, manager string, now time.Time) error {
	if raw == "" {
		return nil
	}
	if manager != "postgresql" && manager != "mariadb" && manager != "mysql" {
		return fault.BadRequest("restorePoint.restore_time (point-in-time restore) is supported for PostgreSQL and MariaDB backups only, not %s.", manager)
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return fault.BadRequest("restorePoint.restore_time %q is not an RFC 3339 time (e.g. 2026-12-06T03:04:05Z).", raw)
	}
	if t.Before(b.Created) {
		return fault.BadRequest("restorePoint.restore_time %s is before backup %s was created (%s): choose an earlier backup or a later time.",
			raw, b.ID, b.Created.UTC().Format(time.RFC3339))
	}
	if t.After(now) {
		return fault.BadRequest("restorePoint.restore_time %s is in the future.", raw)
	}
	if b.StorageDriver == backupstore.DriverSwift {
		return fault.BadRequest("Point-in-time restore needs a directory or s3 backup store: the transaction log of backup %s's instance is not shipped to Swift.", b.ID)
	}
	if b.InstanceID == "" {
		return fault.BadRequest("Backup %s has no source instance whose WAL could be replayed.", b.ID)
	}
	return nil
}
