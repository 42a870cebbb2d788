package flows

import (
	"context"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
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
