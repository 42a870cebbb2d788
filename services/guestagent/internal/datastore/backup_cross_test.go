package datastore_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
	"github.com/trove-go/trove/services/guestagent/internal/mysql"
	"github.com/trove-go/trove/services/guestagent/internal/postgresql"
)

// TestRestoreRefusesOtherDatastore: a real MariaDB backup given to the PostgreSQL manager's Restore, and a real
// PostgreSQL backup given to the MariaDB manager's, are refused as BackupDatastoreMismatchError; nothing is left
// in the data directory and no server runs.
func TestRestoreRefusesOtherDatastore(t *testing.T) {
	ctx := context.Background()
	pid := os.Getpid()
	addr := fmt.Sprintf("127.78.%d.%d", 1+(pid>>8)%250, 1+pid%250)
	newManager := func(kind string) (datastore.Manager, datastore.Layout) {
		dir := t.TempDir()
		for _, d := range []string{filepath.Dir(dir), dir} { // the postgres user must reach it when run as root
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
		opts := datastore.Options{Manager: kind, Layout: datastore.Layout{Root: dir}, BindHost: addr,
			Volume: datastore.NewVolume(dir, 0), Log: logrus.NewEntry(logrus.StandardLogger())}
		var m datastore.Manager
		var err error
		if kind == "postgresql" {
			opts.Port = 5432
			m, err = postgresql.New(opts)
		} else {
			opts.Port = 3306
			m, err = mysql.New(opts)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Stop(ctx) })
		return m, opts.Layout
	}
	streams := map[string][]byte{}
	for _, kind := range []string{"mariadb", "postgresql"} {
		m, _ := newManager(kind)
		if err := m.Prepare(ctx, datastore.PrepareSpec{}); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := m.Backup(ctx, &buf, "b-"+kind, nil); err != nil {
			t.Fatalf("%s backup: %v", kind, err)
		}
		streams[kind] = buf.Bytes()
		if err := m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for kind, other := range map[string]string{"mariadb": "postgresql", "postgresql": "mariadb"} {
		m, l := newManager(kind)
		err := m.Restore(ctx, []datastore.BackupRef{{ID: "b-" + other}}, func(context.Context, int) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(streams[other])), nil
		})
		if datastore.KindOf(err) != datastore.KindBackupMismatch {
			t.Fatalf("%s restoring a %s backup: %v", kind, other, err)
		}
		t.Logf("%s restoring a %s backup: %v", kind, other, err)
		if st := m.Status(ctx); st != datastore.Shutdown {
			t.Fatalf("%s: status %s after a refused restore", kind, st)
		}
		if entries, _ := os.ReadDir(l.Data()); len(entries) > 0 {
			t.Fatalf("%s: the data directory holds %d entries", kind, len(entries))
		}
	}
}
