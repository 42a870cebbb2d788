package flows

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/status"
)

// A replica build interrupted after its guest was prepared from the snapshot but before it was attached (the
// taskmanager stopped): the restarted taskmanager's resume attaches it — it follows its source from the
// snapshot's position, refuses a tenant's write — and deletes the build's snapshot.
func TestResumeInterruptedReplicaAttachWithRealGuest(t *testing.T) {
	e := newGuestEnv(t)
	ctx := context.Background()
	ds := replDS{image: "mariadb-local", manager: "mariadb", dsVersion: "10.11", port: 3306}
	src, _ := replicaSource(t, e, ds, "rsrc", "t")
	addrOf := func(id string) string { t.Helper(); return e.addrOf(id) }
	srcAddr := addrOf(src.ID)
	appSQL(t, "mariadb", srcAddr, 3306, "INSERT INTO t VALUES (1), (2)")

	// The build up to prepare: the snapshot, then the replica restored from it — but never attached.
	r := e.instanceOf(e.version, "rsrc-1", "aead")
	defer e.dumpGuestLog(r.ID)
	srcID := src.ID
	if err := e.db.UpdateInstance(ctx, r.ID, catalog.InstanceUpdate{SlaveOfID: &srcID}); err != nil {
		t.Fatal(err)
	}
	seed, err := e.m.replicaSnapshot(ctx, rc, r.ID, src.ID)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	a := createArgsFor(r, "mariadb-local", "mariadb", "10.11")
	a.Databases, a.Users, a.RootPassword, a.BackupID = nil, nil, nil, &seed.snapshot.ID
	if err := e.m.CreateInstance(ctx, rc, a); err != nil {
		t.Fatalf("replica restored from the snapshot: %v (fault %s)", err, e.fault(r.ID))
	}
	appSQL(t, "mariadb", srcAddr, 3306, "INSERT INTO t VALUES (3)") // after the snapshot
	if err := e.db.SetTask(ctx, r.ID, status.TaskBuilding); err != nil {
		t.Fatal(err)
	}

	// The restarted taskmanager resumes the build.
	if err := e.m.resumeBuild(ctx, e.get(r.ID)); err != nil {
		t.Fatalf("resume: %v (fault %s)", err, e.fault(r.ID))
	}
	if got := e.get(r.ID); got.Task() != status.TaskNone || got.SlaveOfID != src.ID {
		t.Fatalf("after resume: task %q slave_of %q", got.TaskDescription, got.SlaveOfID)
	}
	appSQL(t, "mariadb", srcAddr, 3306, "INSERT INTO t VALUES (4)")
	sg, _, err := e.m.guest(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	pos, err := sg.GetLatestTxnID(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	g, _, err := e.m.guest(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.WaitForTxn(ctx, rc, pos); err != nil {
		t.Fatalf("the resumed replica does not follow its source: %v", err)
	}
	if got := appSQL(t, "mariadb", addrOf(r.ID), 3306, "SELECT COUNT(*), SUM(n) FROM t"); got != "4\t10" {
		t.Fatalf("the resumed replica holds %q", got)
	}
	if out, err := ds.tenantWrite(addrOf(r.ID), "INSERT INTO t VALUES (99)"); err == nil || !strings.Contains(string(out), "read-only") {
		t.Fatalf("a tenant's write on the resumed replica: %v %s", err, out)
	}
	// Resuming again (another restart) changes nothing; the snapshot is gone.
	if err := e.m.resumeReplicaAttach(ctx, rc, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := g.WaitForTxn(ctx, rc, pos); err != nil {
		t.Fatalf("after a second resume: %v", err)
	}
	if bs, _, err := e.db.ListBackups(ctx, catalog.BackupFilter{}); err != nil || len(bs) != 0 {
		t.Fatalf("backups left after the resumed build: %d %v", len(bs), err)
	}
}

// Replica builds the taskmanager lost before their server existed are rebuilt from their rows at restart: a
// replica still BUILDING without a server (the create request's arguments are gone), and a failed-over source
// left EJECTING after it was fenced and pointed at the new source, not yet rebuilt. Both end following the source.
func TestResumeReplicaRebuildsWithRealGuest(t *testing.T) {
	e := newGuestEnv(t)
	ctx := context.Background()
	ds := replDS{image: "mariadb-local", manager: "mariadb", dsVersion: "10.11", port: 3306}
	src, version := replicaSource(t, e, ds, "rbsrc", "t")
	srcAddr := e.addrOf(src.ID)
	appSQL(t, "mariadb", srcAddr, 3306, "INSERT INTO t VALUES (1), (2)")
	srcID := src.ID
	lost := e.instanceOf(version, "rbsrc-lost", "aead") // BUILDING, status NEW, no server
	fenced := e.instanceOf(version, "rbsrc-fenced", "aead")
	for _, id := range []string{lost.ID, fenced.ID} {
		if err := e.db.UpdateInstance(ctx, id, catalog.InstanceUpdate{SlaveOfID: &srcID}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.dumpGuestLog(id) })
	}
	if err := e.db.SetTask(ctx, fenced.ID, status.TaskEjecting); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	e.m.Wait()
	appSQL(t, "mariadb", srcAddr, 3306, "INSERT INTO t VALUES (3)")
	sg, _, err := e.m.guest(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	pos, err := sg.GetLatestTxnID(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{lost.ID, fenced.ID} {
		if got := e.get(id); got.Task() != status.TaskNone || got.SlaveOfID != src.ID || got.ComputeInstanceID == "" {
			t.Fatalf("%s after resume: task %q slave_of %q server %q (fault %s)", id, got.TaskDescription, got.SlaveOfID, got.ComputeInstanceID, e.fault(id))
		}
		g, _, err := e.m.guest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.WaitForTxn(ctx, rc, pos); err != nil {
			t.Fatalf("%s does not follow the source: %v", id, err)
		}
		if got := appSQL(t, "mariadb", e.addrOf(id), 3306, "SELECT COUNT(*) FROM t"); got != "3" {
			t.Fatalf("%s holds %s rows", id, got)
		}
	}
	if !strings.Contains(e.fault(fenced.ID), "Automatic failover") {
		t.Fatalf("the rebuilt failed-over source's fault: %s", e.fault(fenced.ID))
	}
	if bs, _, err := e.db.ListBackups(ctx, catalog.BackupFilter{}); err != nil || len(bs) != 0 {
		t.Fatalf("backups left after the rebuilds: %d %v", len(bs), err)
	}
}

// Promotions and ejects a taskmanager restart interrupted are finished by the next one's resume from their recorded change
// (replication_changes): one stopped after the new source was detached and recorded (the old source read-only,
// the other replica still following it), and one stopped before its first step. Each ends with the new source
// writable, every other member following it and refusing a tenant's write, tasks NONE, no change left.
func TestResumeInterruptedPromoteAndEjectWithRealGuest(t *testing.T) {
	e := newGuestEnv(t)
	ctx := context.Background()
	ds := replDS{image: "mariadb-local", manager: "mariadb", dsVersion: "10.11", port: 3306}
	src, version := replicaSource(t, e, ds, "psrc", "t")
	reps := addReplicas(t, e, ds, src, version, 2)
	appSQL(t, "mariadb", e.addrOf(src.ID), 3306, "INSERT INTO t VALUES (1), (2)")
	guest := func(id string) *guestapi.Client {
		t.Helper()
		g, _, err := e.m.guest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	promoting := func(oldID, newID string) {
		t.Helper()
		for _, id := range []string{src.ID, reps[0], reps[1]} {
			if err := e.db.SetTask(ctx, id, status.TaskPromoting); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.db.BeginReplicationChange(ctx, catalog.ReplicationChange{SourceID: oldID, TargetID: newID, Kind: catalog.ChangePromote}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(newID string, rows int) {
		t.Helper()
		if err := e.m.Resume(ctx); err != nil {
			t.Fatal(err)
		}
		e.m.Wait()
		for _, id := range []string{src.ID, reps[0], reps[1]} {
			want := newID
			if id == newID {
				want = ""
			}
			if got := e.get(id); got.Task() != status.TaskNone || got.SlaveOfID != want {
				t.Fatalf("%s after the resumed promotion: task %q slave_of %q, want %q (fault %s)", id, got.TaskDescription, got.SlaveOfID, want, e.fault(id))
			}
		}
		if ch, err := e.db.ReplicationChanges(ctx); err != nil || len(ch) != 0 {
			t.Fatalf("changes left: %+v %v", ch, err)
		}
		if out, err := ds.tenantWrite(e.addrOf(newID), fmt.Sprintf("INSERT INTO t VALUES (%d)", 100+rows)); err != nil {
			t.Fatalf("write on the new source: %v %s", err, out)
		}
		pos, err := guest(newID).GetLatestTxnID(ctx, rc)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{src.ID, reps[0], reps[1]} {
			if id == newID {
				continue
			}
			if err := guest(id).WaitForTxn(ctx, rc, pos); err != nil {
				t.Fatalf("%s does not follow the new source: %v", id, err)
			}
			if got := appSQL(t, "mariadb", e.addrOf(id), 3306, "SELECT COUNT(*) FROM t"); got != fmt.Sprint(rows) {
				t.Fatalf("%s holds %s rows, want %d", id, got, rows)
			}
			if out, err := ds.tenantWrite(e.addrOf(id), "INSERT INTO t VALUES (99)"); err == nil || !strings.Contains(string(out), "read-only") {
				t.Fatalf("a tenant's write on %s: %v %s", id, err, out)
			}
		}
	}

	// 1. Stopped after reps[0] was detached and recorded as a source.
	promoting(src.ID, reps[0])
	if err := guest(src.ID).MakeReadOnly(ctx, rc, true); err != nil {
		t.Fatal(err)
	}
	pos, err := guest(src.ID).GetLatestTxnID(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	if err := guest(reps[0]).WaitForTxn(ctx, rc, pos); err != nil {
		t.Fatal(err)
	}
	if err := guest(reps[0]).DetachReplica(ctx, rc, guestapi.DetachReplicaArgs{}); err != nil {
		t.Fatal(err)
	}
	empty := ""
	if err := e.db.UpdateInstance(ctx, reps[0], catalog.InstanceUpdate{SlaveOfID: &empty}); err != nil {
		t.Fatal(err)
	}
	check(reps[0], 3)

	// 2. Stopped before its first step: the whole switchover runs at resume.
	promoting(reps[0], reps[1])
	check(reps[1], 4)

	// 3. An eject of the dead source reps[1] stopped after its new source reps[0] was chosen, detached and
	// recorded: the resume points src at reps[0]; reps[1] stays out of the set.
	if err := e.drv.DeleteServer(ctx, e.get(reps[1]).ComputeInstanceID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{src.ID, reps[0], reps[1]} {
		if err := e.db.SetTask(ctx, id, status.TaskEjecting); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.db.BeginReplicationChange(ctx, catalog.ReplicationChange{SourceID: reps[1], TargetID: reps[0], Kind: catalog.ChangeEject}); err != nil {
		t.Fatal(err)
	}
	if err := guest(reps[0]).DetachReplica(ctx, rc, guestapi.DetachReplicaArgs{ForFailover: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.UpdateInstance(ctx, reps[0], catalog.InstanceUpdate{SlaveOfID: &empty}); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	e.m.Wait()
	for id, want := range map[string]string{src.ID: reps[0], reps[0]: "", reps[1]: ""} {
		if got := e.get(id); got.Task() != status.TaskNone || got.SlaveOfID != want {
			t.Fatalf("%s after the resumed eject: task %q slave_of %q, want %q", id, got.TaskDescription, got.SlaveOfID, want)
		}
	}
	if f := e.fault(reps[1]); !strings.Contains(f, "Ejected as replica source") {
		t.Fatalf("the ejected source's fault: %s", f)
	}
	if out, err := ds.tenantWrite(e.addrOf(reps[0]), "INSERT INTO t VALUES (200)"); err != nil {
		t.Fatalf("write on the new source: %v %s", err, out)
	}
	if pos, err = guest(reps[0]).GetLatestTxnID(ctx, rc); err != nil {
		t.Fatal(err)
	}
	if err := guest(src.ID).WaitForTxn(ctx, rc, pos); err != nil {
		t.Fatalf("src does not follow the new source after the resumed eject: %v", err)
	}
	if got := appSQL(t, "mariadb", e.addrOf(src.ID), 3306, "SELECT COUNT(*) FROM t"); got != "5" {
		t.Fatalf("src holds %s rows after the eject, want 5", got)
	}
}
