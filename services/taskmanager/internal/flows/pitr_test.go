package flows

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/testenv"
)

// restoreToTime creates a new instance from a backup at restore_time, as trove-api casts it.
func restoreToTime(t *testing.T, e *env, b catalog.Backup, at time.Time) (catalog.Instance, error) {
	t.Helper()
	in := e.instanceOf(e.pgVersion, "pitr", catalog.EnvelopeAEAD)
	args := createArgsFor(in, "postgresql-15-local", "postgresql", "15")
	args.Databases, args.Users, args.RootPassword = nil, nil, nil // they come with the backup
	id, rt := b.ID, at.UTC().Format(time.RFC3339Nano)
	args.BackupID, args.RestoreTime = &id, &rt
	err := e.m.CreateInstance(context.Background(), rc, args)
	return e.get(in.ID), err
}

// Point-in-time recovery through the taskmanager's create flow with real guests shipping their WAL every
// second (archive_timeout 2 s) to an encrypted directory store: rows written at t1 < t2 < t3 after a full
// backup, an instance created from the backup at a time between t2 and t3 has exactly the t1 and t2 rows; a
// time after the shipped WAL fails the build with the guest's fault.
func TestPointInTimeRestoreWithRealGuest(t *testing.T) {
	guest, conductor := binaries(t)
	store := filepath.Join(t.TempDir(), "backups")
	e := newEnv(t, envOpts{guestBinary: guest, storage: "storage_strategy = directory\n[backup_directory]\nroot = " + store +
		"\n[postgresql]\nwal_ship_interval = 1\narchive_timeout = 2\n"})
	e.startConductor(conductor)
	ctx := context.Background()
	src := e.instanceOf(e.pgVersion, "pitr-src", catalog.EnvelopeAEAD)
	defer e.dumpGuestLog(src.ID)
	if err := e.m.CreateInstance(ctx, rc, createArgsFor(src, "postgresql-15-local", "postgresql", "15")); err != nil {
		t.Fatalf("create: %v", err)
	}
	src = e.get(src.ID)
	srv, err := e.drv.GetServer(ctx, src.ComputeInstanceID)
	if err != nil {
		t.Fatal(err)
	}
	q := func(addr, stmt string) string { return appSQL(t, "postgresql", addr, 5432, stmt) }
	addr := srv.Addresses[0].Addr
	q(addr, "CREATE TABLE t (n INT)")
	b := backupNow(t, e, src, "postgresql", "15", nil)
	mid, last := testenv.TimedRows(func(stmt string) string { return q(addr, stmt) })
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if m, _ := filepath.Glob(filepath.Join(store, "*", "wal-"+src.ID+"-"+last+".gz")); len(m) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("WAL segment %s of %s not shipped within 90 s", last, src.ID)
		}
	}

	in, err := restoreToTime(t, e, b, mid)
	if err != nil {
		t.Fatalf("restore to %s: %v (fault %s)", mid, err, e.fault(in.ID))
	}
	defer e.dumpGuestLog(in.ID)
	rs, err := e.drv.GetServer(ctx, in.ComputeInstanceID)
	if err != nil {
		t.Fatal(err)
	}
	if got := q(rs.Addresses[0].Addr, "SELECT string_agg(n::text, ',' ORDER BY n) FROM t"); got != "1,2" {
		t.Fatalf("restored to between t2 and t3: rows %q, want 1,2", got)
	}
	if err := e.m.DeleteInstance(ctx, rc, in.ID); err != nil {
		t.Fatal(err)
	}

	bad, err := restoreToTime(t, e, b, time.Now().Add(time.Minute))
	if err == nil || !strings.Contains(e.fault(bad.ID), "after the last shipped WAL") {
		t.Fatalf("restore past the shipped WAL: %v, fault %q", err, e.fault(bad.ID))
	}
}
