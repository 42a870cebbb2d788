package postgresql

import (
	"context"
	"io"

	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// BackupFormat: mariadb-backup's tar.
func (m *Manager) BackupFormat() string { return "tar" }

// Backup streams pg_basebackup into w.
func (m *Manager) Backup(ctx context.Context, w io.Writer, id string, parent *datastore.BackupRef) error {
	return datastore.Errorf("NotImplemented", "postgresql backup is not implemented yet")
}

// Restore rebuilds the data directory from a chain of tar streams.
func (m *Manager) Restore(ctx context.Context, chain []datastore.BackupRef, open datastore.BackupOpener) error {
	return datastore.Errorf("NotImplemented", "postgresql restore is not implemented yet")
}
