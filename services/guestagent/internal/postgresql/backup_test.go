package postgresql

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// fresh returns a manager on a new, empty layout (nothing started).
func fresh(t *testing.T) *Manager { t.Helper(); return freshPort(t, 5432) }

// freshPort is fresh on another port of the test's address.
func freshPort(t *testing.T, port int) *Manager {
	t.Helper()
	dir := traversableTempDir(t)
	m, err := New(datastore.Options{
		Manager: "postgresql", Layout: datastore.Layout{Root: dir}, BindHost: testAddr(), Port: port,
		IgnoreUsers: []string{"os_admin", "postgres"}, IgnoreDBs: []string{"os_admin", "postgres"},
		Volume: datastore.NewVolume(dir, 0), Log: logrus.NewEntry(logrus.StandardLogger()),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	return m
}

// tableSum is what the table holds: row count and an order-independent checksum of every row.
func tableSum(t *testing.T, m *Manager) string {
	t.Helper()
	rows, err := m.query(context.Background(), "app", "SELECT count(*) || ' rows, md5 ' || coalesce(md5(string_agg(id || ':' || v, ',' ORDER BY id)), '-') FROM t")
	if err != nil || len(rows) != 1 {
		t.Fatalf("table sum: %v %v", rows, err)
	}
	return rows[0][0]
}

func mustExec(t *testing.T, m *Manager, sql string) {
	t.Helper()
	if _, err := m.query(context.Background(), "app", sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func chainOpener(streams ...[]byte) datastore.BackupOpener {
	return func(_ context.Context, i int) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(streams[i])), nil
	}
}

func refs(ids ...string) []datastore.BackupRef {
	out := make([]datastore.BackupRef, len(ids))
	for i, id := range ids {
		out[i] = datastore.BackupRef{ID: id}
	}
	return out
}

// tarNames lists a tar stream's entries.
func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

// TestPostgreSQLBackupRestore: full (pg_basebackup), two WAL incrementals, each point restored into a fresh
// instance whose table matches what was written then; the restored server is writable, os_admin works and the
// source's roles keep their passwords.
func TestPostgreSQLBackupRestore(t *testing.T) {
	if _, err := exec.LookPath("pg_basebackup"); err != nil {
		t.Fatal("pg_basebackup not found: install the Debian package postgresql-15 (or postgresql-client-15)")
	}
	ctx := context.Background()
	src, addr := start(t)
	if err := src.CreateDatabases(ctx, []guestapi.Schema{{Name: "app"}}); err != nil {
		t.Fatal(err)
	}
	pw := "app-Pa55word"
	if err := src.CreateUsers(ctx, []guestapi.User{{Name: "appuser", Host: "%", Password: &pw, Databases: []guestapi.Schema{{Name: "app"}}}}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, src, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'full-' || g FROM generate_series(1, 2000) g")
	var streams [3][]byte
	var sums [3]string
	ids := []string{"full-1", "inc-1", "inc-2"}
	backup := func(i int, parent *datastore.BackupRef) {
		t.Helper()
		sums[i] = tableSum(t, src)
		var buf bytes.Buffer
		began := time.Now()
		if err := src.Backup(ctx, &buf, ids[i], parent); err != nil {
			t.Fatalf("backup %s: %v", ids[i], err)
		}
		t.Logf("backup %s: %d bytes in %s, %v… (%s)", ids[i], buf.Len(), time.Since(began).Round(time.Millisecond), first(tarNames(t, buf.Bytes()), 4), sums[i])
		streams[i] = buf.Bytes()
	}
	backup(0, nil)
	mustExec(t, src, "INSERT INTO t SELECT g, 'inc1-' || g FROM generate_series(2001, 3000) g; UPDATE t SET v = 'changed' WHERE id <= 100")
	backup(1, &datastore.BackupRef{ID: ids[0]})
	mustExec(t, src, "DELETE FROM t WHERE id BETWEEN 500 AND 700; INSERT INTO t VALUES (99999, 'inc2')")
	backup(2, &datastore.BackupRef{ID: ids[1]})
	mustExec(t, src, "INSERT INTO t VALUES (100000, 'after the last backup')")

	if err := src.Backup(ctx, io.Discard, "inc-x", &datastore.BackupRef{ID: "unknown"}); datastore.KindOf(err) != datastore.KindBackupCreation {
		t.Fatalf("incremental on an unknown parent: %v", err)
	}
	if err := src.Stop(ctx); err != nil { // the restored servers take its address and port
		t.Fatal(err)
	}

	for k := 1; k <= 3; k++ {
		m := fresh(t)
		began := time.Now()
		if err := m.Restore(ctx, refs(ids[:k]...), chainOpener(streams[:k]...)); err != nil {
			t.Fatalf("restore %v: %v", ids[:k], err)
		}
		restored := time.Since(began)
		if m.Proc.State() == datastore.Alive {
			t.Fatal("restore left the server running")
		}
		if err := m.Prepare(ctx, datastore.PrepareSpec{}); err != nil {
			t.Fatalf("prepare after restore %v: %v", ids[:k], err)
		}
		if got := tableSum(t, m); got != sums[k-1] {
			t.Fatalf("restore %v: table holds %s, the backup was taken at %s", ids[:k], got, sums[k-1])
		}
		t.Logf("restore %v: %s restored in %s", ids[:k], sums[k-1], restored.Round(time.Millisecond))
		if out, err := client(addr, "appuser", pw, "app", "SELECT current_user"); err != nil || out != "appuser" {
			t.Fatalf("the source's role on the restored server: %q %v", out, err)
		}
		mustExec(t, m, "INSERT INTO t VALUES (-1, 'writable'); DELETE FROM t WHERE id = -1") // promoted
		if err := m.Restore(ctx, refs(ids[:k]...), chainOpener(streams[:k]...)); err != nil {
			t.Fatalf("repeated restore: %v", err)
		}
		if k == 3 {
			// the restored (promoted, new timeline) instance makes its own backups that restore again
			var full, inc bytes.Buffer
			if err := m.Backup(ctx, &full, "r-full", nil); err != nil {
				t.Fatal(err)
			}
			mustExec(t, m, "INSERT INTO t VALUES (200001, 'restored inc')")
			want := tableSum(t, m)
			if err := m.Backup(ctx, &inc, "r-inc", &datastore.BackupRef{ID: "r-full"}); err != nil {
				t.Fatal(err)
			}
			if err := m.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			again := fresh(t)
			if err := again.Restore(ctx, refs("r-full", "r-inc"), chainOpener(full.Bytes(), inc.Bytes())); err != nil {
				t.Fatal(err)
			}
			if err := again.Prepare(ctx, datastore.PrepareSpec{}); err != nil {
				t.Fatal(err)
			}
			if got := tableSum(t, again); got != want {
				t.Fatalf("backup of a restored instance: %s, want %s", got, want)
			}
			_ = again.Stop(ctx)
		}
		_ = m.Stop(ctx)
	}

	half := streams[0][:len(streams[0])/2]
	for _, c := range []struct {
		name    string
		ids     []string
		streams [][]byte
		kind    string
	}{
		{"truncated full", ids[:1], [][]byte{half}, datastore.KindBackupIntegrity},
		{"full cut at its end", ids[:1], [][]byte{streams[0][:len(streams[0])-4096]}, datastore.KindBackupIntegrity},
		{"truncated incremental", ids[:2], [][]byte{streams[0], streams[1][:len(streams[1])/2]}, datastore.KindBackupIntegrity},
		{"WAL gap", []string{ids[0], ids[2]}, [][]byte{streams[0], withoutFirst(t, streams[2])}, datastore.KindBackupIntegrity},
		{"incremental first", ids[1:2], [][]byte{streams[1]}, datastore.KindBackupIntegrity},
		{"not a tar", ids[:1], [][]byte{bytes.Repeat([]byte("XBSTCK01"), 100)}, datastore.KindBackupMismatch},
		{"empty", ids[:1], [][]byte{nil}, datastore.KindBackupMismatch},
	} {
		m := fresh(t)
		err := m.Restore(ctx, refs(c.ids...), chainOpener(c.streams...))
		if datastore.KindOf(err) != c.kind {
			t.Fatalf("%s: %v, want a %s", c.name, err, c.kind)
		}
		t.Logf("%s: %v", c.name, err)
		if m.Proc.State() == datastore.Alive {
			t.Fatalf("%s: a server runs", c.name)
		}
		if entries, _ := os.ReadDir(m.opts.Layout.Data()); len(entries) > 0 {
			t.Fatalf("%s: the data directory holds %d entries", c.name, len(entries))
		}
		if _, err := os.Stat(m.opts.Layout.Scratch()); err == nil {
			t.Fatalf("%s: the scratch directory is left", c.name)
		}
		if c.name == "truncated full" {
			if err := m.Restore(ctx, refs(ids[0]), chainOpener(streams[0])); err != nil {
				t.Fatalf("restore after a failed one: %v", err)
			}
			if _, err := os.Stat(filepath.Join(m.opts.Layout.Data(), "PG_VERSION")); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// withoutFirst is an incremental stream without its first WAL segment: the chain then misses WAL.
func withoutFirst(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(b))
	dropped := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !dropped && walSegment.MatchString(h.Name) {
			dropped = true
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
