package flows

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

// appSQL runs statements as root (enabled at create) on the created database, through the datastore's own
// client; restored instances carry the source's accounts.
func appSQL(t testing.TB, manager, addr string, port int, stmt string) string {
	t.Helper()
	var cmd *exec.Cmd
	if manager == "postgresql" {
		cmd = exec.Command("psql", "-h", addr, "-p", fmt.Sprint(port), "-U", "root", "-d", "appdb", "-v", "ON_ERROR_STOP=1", "-tAc", stmt)
		cmd.Env = append(os.Environ(), "PGPASSWORD=root-pw-1", "PGCONNECT_TIMEOUT=5")
	} else {
		cmd = exec.Command("mariadb", "-h", addr, "-P", fmt.Sprint(port), "-u", "root", "-proot-pw-1", "-N", "-B", "appdb", "-e", stmt)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", stmt, err, out)
	}
	return strings.TrimSpace(string(out))
}

// backupNow makes a backup as trove-api and the taskmanager do and waits until the guest reports it ended.
func backupNow(t *testing.T, e *env, inst catalog.Instance, ds, dsVersion string, parent *catalog.Backup) catalog.Backup {
	t.Helper()
	ctx := context.Background()
	b := catalog.Backup{Name: "b", TenantID: inst.TenantID, InstanceID: inst.ID, DatastoreVersionID: inst.DatastoreVersionID,
		StorageDriver: backupstore.DriverDirectory, BackupType: guestapi.BackupFull}
	info := guestapi.BackupInfo{InstanceID: inst.ID, BackupType: guestapi.BackupFull, Datastore: ds, DatastoreVersion: dsVersion,
		StorageDriver: backupstore.DriverDirectory}
	if parent != nil {
		b.ParentID, b.BackupType = parent.ID, guestapi.BackupIncremental
		info.BackupType, info.Parent = guestapi.BackupIncremental, &guestapi.BackupParent{ID: parent.ID, Location: parent.Location, Checksum: parent.Checksum}
	}
	b, err := e.db.CreateBackup(ctx, b, catalog.TroveDefaults)
	if err != nil {
		t.Fatal(err)
	}
	info.ID = b.ID
	if err := e.m.CreateBackup(ctx, rc, taskapi.CreateBackupArgs{BackupInfo: info, InstanceID: inst.ID}); err != nil {
		t.Fatalf("create_backup: %v", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if b, err = e.db.GetBackup(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		if !b.Running() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backup %s still %s after 2 minutes", b.ID, b.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if b.State != status.BackupCompleted || b.Location == "" || len(b.Checksum) != 32 || b.Size <= 0 {
		t.Fatalf("backup ended %+v", b)
	}
	return b
}

// restoreInto creates a new instance from a backup and returns its address.
func restoreInto(t *testing.T, e *env, dsv catalog.DatastoreVersion, image, manager, version string, b catalog.Backup) (catalog.Instance, error) {
	t.Helper()
	ctx := context.Background()
	in := e.instanceOf(dsv, "restored", catalog.EnvelopeAEAD)
	args := createArgsFor(in, image, manager, version)
	args.Databases, args.Users, args.RootPassword = nil, nil, nil // they come with the backup
	id := b.ID
	args.BackupID = &id
	err := e.m.CreateInstance(ctx, rc, args)
	return e.get(in.ID), err
}

// Backups through the taskmanager, the real guest, the real conductor and a directory store: full and two
// incrementals, each point restored into a new instance with exactly the rows written by then; delete removes
// the objects; a corrupted object fails the restore with a fault naming the checksum.
func TestBackupRestoreWithRealGuest(t *testing.T) {
	e := newGuestEnv(t)
	cases := []struct {
		name, image, manager, version string
		dsv                           catalog.DatastoreVersion
		port                          int
	}{
		{"mariadb", "mariadb-local", "mariadb", "10.11", e.version, 3306},
		{"postgresql", "postgresql-15-local", "postgresql", "15", e.pgVersion, 5432},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			src := e.instanceOf(c.dsv, "src-"+c.name, catalog.EnvelopeAEAD)
			defer e.dumpGuestLog(src.ID)
			if err := e.m.CreateInstance(ctx, rc, createArgsFor(src, c.image, c.manager, c.version)); err != nil {
				t.Fatalf("create: %v", err)
			}
			src = e.get(src.ID)
			srv, err := e.drv.GetServer(ctx, src.ComputeInstanceID)
			if err != nil {
				t.Fatal(err)
			}
			addr := srv.Addresses[0].Addr
			q := func(addr, stmt string) string { return appSQL(t, c.manager, addr, c.port, stmt) }
			sum := "SELECT COUNT(*), COALESCE(SUM(n), 0) FROM t"
			q(addr, "CREATE TABLE t (n INT)")
			var points []string
			var chain []catalog.Backup
			var parent *catalog.Backup
			for i := 0; i < 3; i++ {
				q(addr, fmt.Sprintf("INSERT INTO t (n) VALUES (%d), (%d), (%d)", 10*i+1, 10*i+2, 10*i+3))
				points = append(points, q(addr, sum))
				b := backupNow(t, e, src, c.manager, c.version, parent)
				chain = append(chain, b)
				parent = &chain[len(chain)-1]
				if e.get(src.ID).Task() != status.TaskNone {
					t.Fatalf("task after backup %d: %s", i, e.get(src.ID).TaskDescription)
				}
			}
			q(addr, "INSERT INTO t (n) VALUES (1000)") // after the last backup: never restored
			for i, b := range chain {
				if !strings.HasPrefix(b.Location, "file://"+e.backupDir+"/tenant-1/") {
					t.Fatalf("backup %d at %s, outside the project's directory", i, b.Location)
				}
				in, err := restoreInto(t, e, c.dsv, c.image, c.manager, c.version, b)
				if err != nil {
					t.Fatalf("restore of point %d: %v (fault %s)", i, err, e.fault(in.ID))
				}
				rs, err := e.drv.GetServer(ctx, in.ComputeInstanceID)
				if err != nil {
					t.Fatal(err)
				}
				if got := q(rs.Addresses[0].Addr, sum); got != points[i] {
					t.Fatalf("point %d restored %q, written %q", i, got, points[i])
				}
				e.dumpGuestLog(in.ID)
				if err := e.m.DeleteInstance(ctx, rc, in.ID); err != nil {
					t.Fatal(err)
				}
			}

			// A corrupted object: the restore fails (ERROR) with a fault naming the checksum.
			path := strings.TrimPrefix(chain[0].Location, "file://")
			if u, err := url.Parse(chain[0].Location); err == nil {
				path = u.Path
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			bad := append([]byte(nil), data...)
			bad[len(bad)/2] ^= 0xff
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			in, err := restoreInto(t, e, c.dsv, c.image, c.manager, c.version, chain[0])
			if err == nil || in.Task().Action != status.TaskBuildingErrorServer.Action && !strings.Contains(in.TaskDescription, "rror") {
				t.Fatalf("restore of a corrupted backup: %v, task %q", err, in.TaskDescription)
			}
			if f := e.fault(in.ID); !strings.Contains(f, "checksum") && !strings.Contains(f, "corrupt") {
				t.Fatalf("fault of the corrupted restore: %q", f)
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}

			// Delete: children first, as trove-api casts them; the objects and the rows go, the quota is released.
			for i := len(chain) - 1; i >= 0; i-- {
				if err := e.m.DeleteBackup(ctx, rc, chain[i].ID); err != nil {
					t.Fatalf("delete_backup %d: %v", i, err)
				}
				p, _ := url.Parse(chain[i].Location)
				if _, err := os.Stat(p.Path); !os.IsNotExist(err) {
					t.Fatalf("object of backup %d still there: %v", i, err)
				}
				if _, err := e.db.GetBackup(ctx, chain[i].ID); err == nil {
					t.Fatalf("backup %d still listed", i)
				}
			}
		})
	}
}

// startBackup makes the row and casts create_backup without waiting.
func startBackup(t *testing.T, e *env, inst catalog.Instance) catalog.Backup {
	t.Helper()
	ctx := context.Background()
	b, err := e.db.CreateBackup(ctx, catalog.Backup{Name: "b", TenantID: inst.TenantID, InstanceID: inst.ID,
		DatastoreVersionID: inst.DatastoreVersionID, StorageDriver: backupstore.DriverDirectory, BackupType: guestapi.BackupFull}, catalog.TroveDefaults)
	if err != nil {
		t.Fatal(err)
	}
	info := guestapi.BackupInfo{ID: b.ID, InstanceID: inst.ID, BackupType: guestapi.BackupFull, Datastore: "mariadb",
		DatastoreVersion: "10.11", StorageDriver: backupstore.DriverDirectory}
	if err := e.m.CreateBackup(ctx, rc, taskapi.CreateBackupArgs{BackupInfo: info, InstanceID: inst.ID}); err != nil {
		t.Fatalf("create_backup: %v", err)
	}
	return b
}

func (e *env) backupState(id string) string {
	e.t.Helper()
	b, err := e.db.GetBackup(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return b.State
}

// Faults: a guest killed during a backup → the backup FAILED (reported by the restarted agent) and the instance
// serves again, with no object left under the backup's name; an unusable store → FAILED, and the instance's
// fault says why; a guest that stays silent → FAILED by the taskmanager's watch.
func TestBackupFaultsWithRealGuest(t *testing.T) {
	e := newGuestEnv(t)
	ctx := context.Background()
	src := e.instance("src-faults", catalog.EnvelopeAEAD)
	defer e.dumpGuestLog(src.ID)
	if err := e.m.CreateInstance(ctx, rc, createArgs(src, "mariadb-local")); err != nil {
		t.Fatalf("create: %v", err)
	}
	src = e.get(src.ID)
	srv, err := e.drv.GetServer(ctx, src.ComputeInstanceID)
	if err != nil {
		t.Fatal(err)
	}
	q := func(stmt string) string { return appSQL(t, "mariadb", srv.Addresses[0].Addr, 3306, stmt) }
	q("CREATE TABLE t (n INT)")
	q("INSERT INTO t (n) SELECT seq FROM seq_1_to_200000")

	// 1. The guest agent is killed while the backup runs.
	b := startBackup(t, e, src)
	waitFor(t, "backup BUILDING", func() bool { return e.backupState(b.ID) == status.BackupBuilding })
	pidFile := fmt.Sprintf("%s/instances/%s/guest.pid", e.stateDir, src.ID)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(data), &pid)
	if err := exec.Command("kill", "-9", fmt.Sprint(pid)).Run(); err != nil {
		t.Fatalf("killing the guest agent %d: %v", pid, err)
	}
	if st := e.backupState(b.ID); st == status.BackupCompleted {
		t.Fatal("the backup finished before the guest was killed: make the dataset larger")
	}
	if err := e.drv.RebootServer(ctx, src.ComputeInstanceID); err != nil {
		t.Fatalf("restarting the guest: %v", err)
	}
	waitFor(t, "interrupted backup FAILED", func() bool { return e.backupState(b.ID) == status.BackupFailed })
	waitFor(t, "instance serving again", func() bool { st := e.guestStatus(src.ID); return st == "healthy" || st == "running" })
	if got := q("SELECT COUNT(*) FROM t"); got != "200000" {
		t.Fatalf("rows after the interrupted backup: %s", got)
	}
	if _, err := os.Stat(filepath.Join(e.backupDir, src.TenantID, b.ID+".xbstream.gz")); !os.IsNotExist(err) {
		t.Fatalf("an object of the interrupted backup is visible: %v", err)
	}

	// 2. The store is unusable: the project's directory is a file.
	tenantDir := e.backupDir + "/" + src.TenantID
	if err := os.RemoveAll(tenantDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.backupDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tenantDir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	b = startBackup(t, e, src)
	waitFor(t, "backup to a broken store FAILED", func() bool { return e.backupState(b.ID) == status.BackupFailed })
	waitFor(t, "fault naming the store", func() bool {
		f := e.fault(src.ID)
		return strings.Contains(f, tenantDir) || strings.Contains(f, "not a directory")
	})
	if err := os.Remove(tenantDir); err != nil {
		t.Fatal(err)
	}

	// 3. A guest that stays silent: the watch fails the backup once heartbeats are older than the expiry.
	if err := e.drv.DeleteServer(ctx, src.ComputeInstanceID); err != nil { // no guest at all any more
		t.Fatal(err)
	}
	stale, err := e.db.CreateBackup(ctx, catalog.Backup{Name: "b", TenantID: src.TenantID, InstanceID: src.ID, State: status.BackupBuilding,
		DatastoreVersionID: src.DatastoreVersionID, StorageDriver: backupstore.DriverDirectory}, catalog.TroveDefaults)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.advance(5 * time.Minute)
	if err := e.m.resumeBackups(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "silent guest's backup FAILED", func() bool { return e.backupState(stale.ID) == status.BackupFailed })
}
