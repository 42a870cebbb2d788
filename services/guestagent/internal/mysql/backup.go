package mysql

import (
	"context"
	"io"

	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// BackupFormat: mariadb-backup's xbstream.
func (m *Manager) BackupFormat() string { return "xbstream" }

// Backup streams mariadb-backup --backup --stream=xbstream into w.
func (m *Manager) Backup(ctx context.Context, w io.Writer, id string, parent *datastore.BackupRef) error {
	return datastore.Errorf("NotImplemented", "mysql backup is not implemented yet")
}

// Restore rebuilds the data directory from a chain of xbstreams.
func (m *Manager) Restore(ctx context.Context, chain []datastore.BackupRef, open datastore.BackupOpener) error {
	return datastore.Errorf("NotImplemented", "mysql restore is not implemented yet")
}
