package flows

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/testenv"
)

// pitrCase is one datastore of the point-in-time recovery flow test.
type pitrCase struct {
	name, image, manager, version string
	dsv                           catalog.DatastoreVersion
	port                          int
	switchLog                     string
	// shipped is the name of the last log file closed by switchLog, given its output and the server
	shipped func(out, addr string) string
	order   string // the query listing t's rows in order
	beyond  string // the fault of a restore past the shipped log
}

// restoreToTime creates a new instance from a backup at restore_time, as trove-api casts it.
func restoreToTime(t *testing.T, e *env, c pitrCase, b catalog.Backup, at time.Time) (catalog.Instance, error) {
	t.Helper()
	in := e.instanceOf(c.dsv, "pitr", catalog.EnvelopeAEAD)
	args := createArgsFor(in, c.image, c.manager, c.version)
	args.Databases, args.Users, args.RootPassword = nil, nil, nil // they come with the backup
	id, rt := b.ID, at.UTC().Format(time.RFC3339Nano)
	args.BackupID, args.RestoreTime = &id, &rt
	err := e.m.CreateInstance(context.Background(), rc, args)
	return e.get(in.ID), err
}

// Point-in-time recovery through the taskmanager's create flow with real guests shipping their transaction log
// every second (PostgreSQL: archive_timeout 2 s; MariaDB: binary log flushed every second) to an encrypted
// directory store: rows written at t1 < t2 < t3 after a full backup, an instance created from the backup at a
// time between t2 and t3 has exactly the t1 and t2 rows; a time after the shipped log fails the build with the
// guest's fault.
func TestPointInTimeRestoreWithRealGuest(t *testing.T) {
	guest, conductor := binaries(t)
	store := filepath.Join(t.TempDir(), "backups")
	e := newEnv(t, envOpts{guestBinary: guest, storage: "storage_strategy = directory\n[backup_directory]\nroot = " + store +
		"\n[postgresql]\nwal_ship_interval = 1\narchive_timeout = 2\n[mariadb]\nbinlog_ship_interval = 1\nbinlog_flush_interval = 1\n"})
	e.startConductor(conductor)
	cases := []pitrCase{
		{"postgresql", "postgresql-15-local", "postgresql", "15", e.pgVersion, 5432, "SELECT pg_walfile_name(pg_switch_wal())",
			func(out, _ string) string { return out }, "SELECT string_agg(n::text, ',' ORDER BY n) FROM t", "after the last shipped WAL"},
		{"mariadb", "mariadb-local", "mariadb", "10.11", e.version, 3306, "FLUSH BINARY LOGS",
			func(_, addr string) string {
				cur := strings.Fields(appSQL(t, "mariadb", addr, 3306, "SHOW MASTER STATUS"))[0] // the file written now
				base, num, _ := strings.Cut(cur, ".")
				n, _ := strconv.Atoi(num)
				return fmt.Sprintf("%s.%0*d", base, len(num), n-1)
			}, "SELECT GROUP_CONCAT(n ORDER BY n) FROM t", "after the last shipped binary log"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { pointInTimeFlow(t, e, c, store) })
	}
}

func pointInTimeFlow(t *testing.T, e *env, c pitrCase, store string) {
	ctx := context.Background()
	src := e.instanceOf(c.dsv, "pitr-src", catalog.EnvelopeAEAD)
	defer e.dumpGuestLog(src.ID)
	if err := e.m.CreateInstance(ctx, rc, createArgsFor(src, c.image, c.manager, c.version)); err != nil {
		t.Fatalf("create: %v", err)
	}
	src = e.get(src.ID)
	srv, err := e.drv.GetServer(ctx, src.ComputeInstanceID)
	if err != nil {
		t.Fatal(err)
	}
	q := func(addr, stmt string) string { return appSQL(t, c.manager, addr, c.port, stmt) }
	addr := srv.Addresses[0].Addr
	q(addr, "CREATE TABLE t (n INT)")
	b := backupNow(t, e, src, c.manager, c.version, nil)
	mid, out := testenv.TimedRowsWith(func(stmt string) string { return q(addr, stmt) }, c.switchLog)
	last := c.shipped(out, addr)
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if m, _ := filepath.Glob(filepath.Join(store, "*", "wal-"+src.ID+"-"+last+".gz")); len(m) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log file %s of %s not shipped within 90 s", last, src.ID)
		}
	}

	in, err := restoreToTime(t, e, c, b, mid)
	if err != nil {
		t.Fatalf("restore to %s: %v (fault %s)", mid, err, e.fault(in.ID))
	}
	defer e.dumpGuestLog(in.ID)
	rs, err := e.drv.GetServer(ctx, in.ComputeInstanceID)
	if err != nil {
		t.Fatal(err)
	}
	if got := q(rs.Addresses[0].Addr, c.order); got != "1,2" {
		t.Fatalf("restored to between t2 and t3: rows %q, want 1,2", got)
	}
	if err := e.m.DeleteInstance(ctx, rc, in.ID); err != nil {
		t.Fatal(err)
	}

	bad, err := restoreToTime(t, e, c, b, time.Now().Add(time.Minute))
	if err == nil || !strings.Contains(e.fault(bad.ID), c.beyond) {
		t.Fatalf("restore past the shipped log: %v, fault %q", err, e.fault(bad.ID))
	}
}
