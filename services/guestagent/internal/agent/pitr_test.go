package agent

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/backupcrypt"
	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/testenv"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
	"github.com/trove-go/trove/services/guestagent/internal/mysql"
	"github.com/trove-go/trove/services/guestagent/internal/postgresql"
)

// agentWith is a prepared agent over newMgr(opts) with a directory store at storeRoot (the default driver),
// keys and pitr.
func agentWith(t testing.TB, opts datastore.Options, newMgr func(datastore.Options) (datastore.Manager, error), storeRoot string,
	info map[string]any, keys backupcrypt.Keys, pitr PITRConfig) (*Agent, error) {
	a, err := New(Deps{Layout: opts.Layout, Volume: opts.Volume, Conductor: &recorder{}, Period: time.Hour, Log: opts.Log,
		NewManager: func() (datastore.Manager, error) { return newMgr(opts) },
		Storage: func(driver, _ string, creds backupstore.Credentials) (backupstore.Store, error) {
			if driver == "" {
				driver = backupstore.DriverDirectory
			}
			return backupstore.New(backupstore.Config{Driver: driver, Directory: backupstore.DirectoryConfig{Root: backupstore.ProjectDir(storeRoot, testTenant)}}, creds)
		},
		BackupKeys: keys, PITR: pitr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	pw := rootPassword
	args := guestapi.PrepareArgs{RootPassword: &pw}
	if info != nil {
		args = guestapi.PrepareArgs{BackupInfo: info}
	}
	return a, a.Prepare(context.Background(), args)
}

func newMariaDB(o datastore.Options) (datastore.Manager, error)    { return mysql.New(o) }
func newPostgreSQL(o datastore.Options) (datastore.Manager, error) { return postgresql.New(o) }

// pgAgent is a prepared agent over a real PostgreSQL on addr with a directory store at storeRoot, shipping its
// WAL as instance id.
func pgAgent(t testing.TB, addr, storeRoot, id string, info map[string]any, keys backupcrypt.Keys) (*Agent, error) {
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // postgres runs as its own user when we are root
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	opts := datastore.Options{Manager: "postgresql", Layout: datastore.Layout{Root: dir}, BindHost: addr, Port: 5432, Volume: datastore.NewVolume(dir, 0),
		Log: logrus.NewEntry(logrus.StandardLogger()).WithField("instance", id), ArchiveTimeout: 60 * time.Second,
		IgnoreUsers: []string{"os_admin", "postgres"}, IgnoreDBs: []string{"os_admin", "postgres"}}
	return agentWith(t, opts, newPostgreSQL, storeRoot, info, keys, PITRConfig{InstanceID: id, Interval: time.Hour})
}

func pgSQL(t testing.TB, addr, sql string) string {
	t.Helper()
	cmd := exec.Command("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", addr, "-p", "5432", "-U", "root", "-d", "postgres", "-c", sql)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+rootPassword, "PGCONNECT_TIMEOUT=5")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Point-in-time recovery on real PostgreSQL servers: after a full backup, rows written at t1 < t2 < t3 (each
// followed by a WAL switch) are shipped, encrypted, to the store; a restore to a time between t2 and t3 has
// exactly the rows of t1 and t2, and is writable; a restore to a time after the last shipped WAL fails as an
// integrity fault naming the window, with no server answering; shipping again ships nothing (idempotent).
func TestPointInTimeRestorePostgreSQL(t *testing.T) {
	ctx := context.Background()
	store := t.TempDir()
	keys := backupcrypt.Keys{Current: kekOld}
	const srcID = "a0000000-0000-4000-8000-0000000000f1"
	src, err := pgAgent(t, loopback(61), store, srcID, nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	pgSQL(t, loopback(61), "CREATE TABLE t (n int, at timestamptz DEFAULT clock_timestamp())")
	id := "5f1f1d0e-0000-4000-8000-0000000000f1"
	obj, err := src.CreateBackup(ctx, guestapi.BackupInfo{ID: id, BackupType: guestapi.BackupFull,
		StorageDriver: backupstore.DriverDirectory}, backupstore.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	mid, last := testenv.TimedRows(func(stmt string) string { return pgSQL(t, loopback(61), stmt) })
	// wait until the last switched segment is archived, then ship
	for deadline := time.Now().Add(60 * time.Second); ; {
		if _, err := os.Stat(filepath.Join(src.d.Layout.Root, "wal_archive", last)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived", last)
		}
		time.Sleep(100 * time.Millisecond)
	}
	n, err := src.ShipLogs(ctx)
	if err != nil || n == 0 {
		t.Fatalf("ship: %d files, %v", n, err)
	}
	if w := src.RecoveryWindow(); !w.Shipping || w.FirstShipped == nil || w.LastShipped == nil || w.LastShipped.Before(mid) ||
		w.FirstShipped.After(*w.LastShipped) || w.LastFile < last {
		t.Fatalf("recovery window %+v (last segment %s)", w, last)
	}
	shipped, _ := filepath.Glob(filepath.Join(store, testTenant, "wal-"+srcID+"-*.gz"))
	if len(shipped) < 3 {
		t.Fatalf("shipped objects %v", shipped)
	}
	for _, p := range shipped {
		b, err := os.ReadFile(p)
		if err != nil || !backupcrypt.Encrypted(b) {
			t.Fatalf("%s: not encrypted (%v)", p, err)
		}
	}
	if again, err := src.ShipLogs(ctx); err != nil || again != 0 {
		t.Fatalf("shipping again: %d files, %v", again, err)
	}
	if _, err := os.Stat(filepath.Join(src.d.Layout.Root, "wal_archive", last)); err != nil {
		t.Fatalf("the shipped segment left the local archive before a backup pruned it: %v", err)
	}

	info := guestapi.RestoreInfo{ID: id, InstanceID: srcID, Location: obj.Location, Checksum: obj.MD5, Type: "full",
		StorageDriver: backupstore.DriverDirectory, Chain: []guestapi.RestoreLink{{ID: id, Location: obj.Location, Checksum: obj.MD5}},
		RestoreTime: mid.UTC().Format(time.RFC3339Nano)}
	if _, err := pgAgent(t, loopback(62), store, "a0000000-0000-4000-8000-0000000000f2", info.Map(), keys); err != nil {
		t.Fatalf("restore to %s: %v", info.RestoreTime, err)
	}
	if got := pgSQL(t, loopback(62), "SELECT string_agg(n::text, ',' ORDER BY n) FROM t"); got != "1,2" {
		t.Fatalf("restored to between t2 and t3: rows %q, want 1,2", got)
	}
	pgSQL(t, loopback(62), "INSERT INTO t (n) VALUES (4)") // promoted: writable

	// a segment archived but not shipped survives a full backup's pruning of the archive; once shipped, the
	// next full backup prunes it
	unshipped := pgSQL(t, loopback(61), "SELECT pg_walfile_name(pg_switch_wal())")
	archived := filepath.Join(src.d.Layout.Root, "wal_archive", unshipped)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(archived); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived", unshipped)
		}
	}
	full := func(id string) {
		t.Helper()
		if _, err := src.CreateBackup(ctx, guestapi.BackupInfo{ID: id, BackupType: guestapi.BackupFull,
			StorageDriver: backupstore.DriverDirectory}, backupstore.Credentials{}); err != nil {
			t.Fatal(err)
		}
	}
	full("5f1f1d0e-0000-4000-8000-0000000000f2")
	if _, err := os.Stat(archived); err != nil {
		t.Fatalf("unshipped segment %s pruned by a full backup: %v", unshipped, err)
	}
	if n, err := src.ShipLogs(ctx); err != nil || n == 0 {
		t.Fatalf("ship: %d files, %v", n, err)
	}
	full("5f1f1d0e-0000-4000-8000-0000000000f3")
	if _, err := os.Stat(archived); !os.IsNotExist(err) {
		t.Fatalf("shipped segment %s kept after a full backup: %v", unshipped, err)
	}

	// beyond the shipped WAL: refused, nothing started
	info.RestoreTime = time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	_, err = pgAgent(t, loopback(63), store, "a0000000-0000-4000-8000-0000000000f3", info.Map(), keys)
	if datastore.KindOf(err) != datastore.KindBackupIntegrity || !strings.Contains(err.Error(), "last shipped WAL") {
		t.Fatalf("restore beyond the shipped WAL: %v", err)
	}
	cmd := exec.Command("psql", "-X", "-h", loopback(63), "-U", "root", "-d", "postgres", "-c", "SELECT 1")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+rootPassword, "PGCONNECT_TIMEOUT=3")
	if out, err := cmd.CombinedOutput(); err == nil || bytes.Contains(out, []byte("(1 row)")) {
		t.Fatalf("a server answers after a refused restore: %s", out)
	}
}

// mariadbPITRAgent is a prepared agent over a real MariaDB on addr with a directory store at storeRoot,
// shipping its binary log as instance id (each ShipLogs closes the current file first).
func mariadbPITRAgent(t testing.TB, addr, storeRoot, id string, info map[string]any, keys backupcrypt.Keys) (*Agent, error) {
	return mariadbPITRAgentFlushing(t, addr, storeRoot, id, info, keys, time.Nanosecond)
}

// mariadbPITRAgentFlushing is mariadbPITRAgent closing the current binary log file at most every flush.
func mariadbPITRAgentFlushing(t testing.TB, addr, storeRoot, id string, info map[string]any, keys backupcrypt.Keys, flush time.Duration) (*Agent, error) {
	dir := t.TempDir()
	opts := datastore.Options{Manager: "mariadb", Layout: datastore.Layout{Root: dir}, BindHost: addr, Port: 3306, Volume: datastore.NewVolume(dir, 0),
		Log: logrus.NewEntry(logrus.StandardLogger()).WithField("instance", id), IgnoreUsers: []string{"os_admin"}, ArchiveTimeout: flush}
	return agentWith(t, opts, newMariaDB, storeRoot, info, keys, PITRConfig{InstanceID: id, Interval: time.Hour})
}

// Point-in-time recovery on real MariaDB servers: the binary log is on, rows written at t1 < t2 < t3 after a
// full backup are shipped (closed binlog files, encrypted); a restore to a time between t2 and t3 has exactly
// the rows of t1 and t2; a time after the shipped log fails as an integrity fault naming the window.
func TestPointInTimeRestoreMariaDB(t *testing.T) {
	ctx := context.Background()
	store := t.TempDir()
	keys := backupcrypt.Keys{Current: kekOld}
	const srcID = "a0000000-0000-4000-8000-0000000000e1"
	src, err := mariadbPITRAgent(t, loopback(64), store, srcID, nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	if on := rootSQL(t, loopback(64), "SELECT @@GLOBAL.log_bin"); on != "1" {
		t.Fatalf("log_bin = %s with PITR on", on)
	}
	rootSQL(t, loopback(64), "CREATE DATABASE app; CREATE TABLE app.t (n INT)")
	id := "5f1f1d0e-0000-4000-8000-0000000000e9"
	obj, err := src.CreateBackup(ctx, guestapi.BackupInfo{ID: id, BackupType: guestapi.BackupFull,
		StorageDriver: backupstore.DriverDirectory}, backupstore.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	mid, _ := testenv.TimedRowsWith(func(stmt string) string { return rootSQL(t, loopback(64), "USE app; "+stmt) }, "FLUSH BINARY LOGS")
	if n, err := src.ShipLogs(ctx); err != nil || n == 0 {
		t.Fatalf("ship: %d files, %v", n, err)
	}
	shipped, _ := filepath.Glob(filepath.Join(store, testTenant, "wal-"+srcID+"-mariadb-bin.*.gz"))
	if len(shipped) < 3 {
		t.Fatalf("shipped objects %v", shipped)
	}
	// binlog_local_retention 0: the shipped files are purged from the volume (MariaDB keeps the last ones until
	// its binlog checkpoint passes them: a later round purges those), the one being written stays.
	if logs := rootSQL(t, loopback(64), "SHOW BINARY LOGS"); strings.Contains(logs, "mariadb-bin.000001") ||
		strings.Count(logs, "mariadb-bin.") > len(shipped) {
		t.Fatalf("binary log files on the source after shipping %d files: %s", len(shipped), logs)
	}
	info := guestapi.RestoreInfo{ID: id, InstanceID: srcID, Location: obj.Location, Checksum: obj.MD5, Type: "full",
		StorageDriver: backupstore.DriverDirectory, Chain: []guestapi.RestoreLink{{ID: id, Location: obj.Location, Checksum: obj.MD5}},
		RestoreTime: mid.UTC().Format(time.RFC3339Nano)}
	if _, err := mariadbPITRAgent(t, loopback(65), store, "a0000000-0000-4000-8000-0000000000e2", info.Map(), keys); err != nil {
		t.Fatalf("restore to %s: %v", info.RestoreTime, err)
	}
	if got := rootSQL(t, loopback(65), "SELECT GROUP_CONCAT(n ORDER BY n) FROM app.t"); got != "1,2" {
		t.Fatalf("restored to between t2 and t3: rows %q, want 1,2", got)
	}
	info.RestoreTime = time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	_, err = mariadbPITRAgent(t, loopback(66), store, "a0000000-0000-4000-8000-0000000000e3", info.Map(), keys)
	if datastore.KindOf(err) != datastore.KindBackupIntegrity || !strings.Contains(err.Error(), "last shipped binary log") {
		t.Fatalf("restore beyond the shipped binary log: %v", err)
	}

	// binlog_retention: the next round deletes the shipped files archived longer ago from the store, all but
	// the newest, and the recoverable window starts at the oldest one kept.
	src.d.PITR.Retention = time.Nanosecond
	if n, err := src.ShipLogs(ctx); err != nil || n == 0 {
		t.Fatalf("ship after the retention was shortened: %d files, %v", n, err)
	}
	kept, _ := filepath.Glob(filepath.Join(store, testTenant, "wal-"+srcID+"-mariadb-bin.*.gz"))
	w := src.RecoveryWindow()
	if len(kept) != 1 || w.FirstShipped == nil || w.LastShipped == nil || !w.FirstShipped.Equal(*w.LastShipped) {
		t.Fatalf("after the retention: objects %v, window %+v", kept, w)
	}
}
