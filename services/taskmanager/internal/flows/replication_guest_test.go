package flows

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/status"
)

// TestMariaDBReplicationRPCWithRealGuest drives the guest's replication methods over the real broker between
// two real guests on the local driver: the source becomes a source (get_replica_context), a replica restored
// from a backup of it follows it from the backup's GTID (attach_replica), rows written on the source after the
// backup and after the attach arrive (get_latest_txn_id + wait_for_txn), a write on the replica is refused,
// and detach_replica makes it writable.
func TestMariaDBReplicationRPCWithRealGuest(t *testing.T) {
	e := newGuestEnv(t)
	ctx := context.Background()
	src := e.instanceOf(e.version, "repl-src", "aead")
	defer e.dumpGuestLog(src.ID)
	if err := e.m.CreateInstance(ctx, rc, createArgsFor(src, "mariadb-local", "mariadb", "10.11")); err != nil {
		t.Fatalf("create: %v", err)
	}
	src = e.get(src.ID)
	srv, err := e.drv.GetServer(ctx, src.ComputeInstanceID)
	if err != nil {
		t.Fatal(err)
	}
	srcAddr := srv.Addresses[0].Addr
	q := func(addr, stmt string) string { return appSQL(t, "mariadb", addr, 3306, stmt) }
	sum := "SELECT COUNT(*), COALESCE(SUM(n), 0) FROM t"
	q(srcAddr, "CREATE TABLE t (n INT PRIMARY KEY)")
	q(srcAddr, "INSERT INTO t VALUES (1), (2), (3)")
	sg, _, err := e.m.guest(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	info, err := sg.GetReplicaContext(ctx, rc)
	if err != nil {
		t.Fatalf("get_replica_context: %v", err)
	}
	if info.Master.Host != srcAddr || info.Master.Port != 3306 || info.Master.User == "" || info.Master.Password == "" || info.Txn == "" {
		t.Fatalf("replica context %+v", guestapi.ReplicaContext{Master: guestapi.ReplicaSource{Host: info.Master.Host, Port: info.Master.Port, User: info.Master.User}, Txn: info.Txn})
	}
	seed := backupNow(t, e, src, "mariadb", "10.11", nil)
	q(srcAddr, "INSERT INTO t VALUES (10), (11)") // after the seed backup
	rep, err := restoreInto(t, e, e.version, "mariadb-local", "mariadb", "10.11", seed)
	if err != nil {
		t.Fatalf("restoring the seed: %v (fault %s)", err, e.fault(rep.ID))
	}
	defer e.dumpGuestLog(rep.ID)
	rs, err := e.drv.GetServer(ctx, rep.ComputeInstanceID)
	if err != nil {
		t.Fatal(err)
	}
	repAddr := rs.Addresses[0].Addr
	rg, _, err := e.m.guest(ctx, rep.ID)
	if err != nil {
		t.Fatal(err)
	}
	info.Txn = "" // from where the seed was taken
	if err := rg.AttachReplica(ctx, rc, guestapi.AttachReplicaArgs{ReplicaInfo: info}); err != nil {
		t.Fatalf("attach_replica: %v", err)
	}
	q(srcAddr, "INSERT INTO t VALUES (20)")
	pos, err := sg.GetLatestTxnID(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	if err := rg.WaitForTxn(ctx, rc, pos); err != nil {
		t.Fatalf("wait_for_txn %s: %v", pos, err)
	}
	t.Logf("replica created (seed backup, restore, attach) and caught up in %s", time.Since(began).Round(time.Millisecond))
	if got, want := q(repAddr, sum), q(srcAddr, sum); got != want || want != "6\t47" {
		t.Fatalf("replica holds %q, source %q", got, want)
	}
	// A write on the replica is refused: read-only for tenant accounts (the root enabled at create is the
	// tenant's; it has no READ ONLY ADMIN, so read_only applies to it too).
	out, err := exec.Command("mariadb", "-h", repAddr, "-P", "3306", "-u", "appuser", "-psecret-pw-1", "-N", "-B", "appdb",
		"-e", "INSERT INTO t VALUES (99)").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "read-only") {
		t.Fatalf("write on the replica: %v %s", err, out)
	}
	if err := rg.DetachReplica(ctx, rc, guestapi.DetachReplicaArgs{}); err != nil {
		t.Fatalf("detach_replica: %v", err)
	}
	out, err = exec.Command("mariadb", "-h", repAddr, "-P", "3306", "-u", "appuser", "-psecret-pw-1", "-N", "-B", "appdb",
		"-e", "INSERT INTO t VALUES (99)").CombinedOutput()
	if err != nil {
		t.Fatalf("write on the detached replica: %v %s", err, out)
	}
}

// TestMariaDBReplicaFlowsWithRealGuest: the replica flows on real MariaDB guests (testReplicaFlows).
func TestMariaDBReplicaFlowsWithRealGuest(t *testing.T) {
	testReplicaFlows(t, replDS{image: "mariadb-local", manager: "mariadb", dsVersion: "10.11", port: 3306})
}

// TestPostgreSQLReplicaFlowsWithRealGuest: the replica flows on real PostgreSQL guests (streaming replication
// through a slot per replica; promote demotes the old source to a standby of the new one).
func TestPostgreSQLReplicaFlowsWithRealGuest(t *testing.T) {
	testReplicaFlows(t, replDS{image: "postgresql-15-local", manager: "postgresql", dsVersion: "15", port: 5432})
}

// replDS is the datastore a replica flows test runs on.
type replDS struct {
	image, manager, dsVersion string
	port                      int
}

// tenantWrite runs stmt on database appdb as the tenant's appuser (createArgsFor).
func (d replDS) tenantWrite(addr, stmt string) ([]byte, error) {
	if d.manager == "postgresql" {
		cmd := exec.Command("psql", "-h", addr, "-p", fmt.Sprint(d.port), "-U", "appuser", "-d", "appdb", "-v", "ON_ERROR_STOP=1", "-tAc", stmt)
		cmd.Env = append(os.Environ(), "PGPASSWORD=secret-pw-1", "PGCONNECT_TIMEOUT=5")
		return cmd.CombinedOutput()
	}
	return exec.Command("mariadb", "-h", addr, "-P", fmt.Sprint(d.port), "-u", "appuser", "-psecret-pw-1", "-N", "-B", "appdb",
		"-e", stmt).CombinedOutput()
}

// replicaSource builds, with the create flow, a source named name on ds holding table (n INT PRIMARY KEY,
// writable by the tenant's appuser) and returns it with the version used.
func replicaSource(t *testing.T, e *env, ds replDS, name, table string) (catalog.Instance, catalog.DatastoreVersion) {
	t.Helper()
	version := e.version
	if ds.manager == "postgresql" {
		version = e.pgVersion
	}
	src := e.instanceOf(version, name, "aead")
	t.Cleanup(func() { e.dumpGuestLog(src.ID) })
	if err := e.m.CreateInstance(context.Background(), rc, createArgsFor(src, ds.image, ds.manager, ds.dsVersion)); err != nil {
		t.Fatalf("create: %v", err)
	}
	addr := e.addrOf(src.ID)
	appSQL(t, ds.manager, addr, ds.port, "CREATE TABLE "+table+" (n INT PRIMARY KEY)")
	if ds.manager == "postgresql" { // the table is root's
		appSQL(t, ds.manager, addr, ds.port, "GRANT ALL ON "+table+" TO appuser")
	}
	return src, version
}

// addReplicas builds n replicas of src with the create flow (snapshot, restore, attach), named <src>-1 … <src>-n.
func addReplicas(t *testing.T, e *env, ds replDS, src catalog.Instance, version catalog.DatastoreVersion, n int) []string {
	t.Helper()
	var reps []string
	for i := 1; i <= n; i++ {
		r := e.instanceOf(version, fmt.Sprintf("%s-%d", src.Name, i), "aead")
		srcID := src.ID
		if err := e.db.UpdateInstance(context.Background(), r.ID, catalog.InstanceUpdate{SlaveOfID: &srcID}); err != nil {
			t.Fatal(err)
		}
		a := createArgsFor(r, ds.image, ds.manager, ds.dsVersion)
		a.Databases, a.Users, a.RootPassword, a.SlaveOfID = nil, nil, nil, &srcID
		began := time.Now()
		if err := e.m.CreateInstance(context.Background(), rc, a); err != nil {
			e.dumpGuestLog(r.ID)
			t.Fatalf("create replica %d: %v (fault %s)", i, err, e.fault(r.ID))
		}
		t.Logf("replica %d: created and attached in %s", i, time.Since(began).Round(time.Millisecond))
		t.Cleanup(func() { e.dumpGuestLog(r.ID) })
		if got := e.get(r.ID); got.Task() != status.TaskNone || got.SlaveOfID != src.ID {
			t.Fatalf("replica %d: task %q slave_of %q", i, got.TaskDescription, got.SlaveOfID)
		}
		reps = append(reps, r.ID)
	}
	return reps
}

// testReplicaFlows: create_instance with slave_of_id builds two replicas of a real instance (snapshot backup
// of the source, restore, attach, snapshot deleted); rows written on the source reach both, a tenant's write
// on a replica is refused; promote makes the first the source (the old source and the other replica follow
// it); detach_replica makes one standalone and writable while the other still follows; eject, after the
// source's server is deleted, makes the most advanced replica the source and the other follows it.
func testReplicaFlows(t *testing.T, ds replDS) {
	e := newGuestEnv(t)
	ctx := context.Background()
	src, version := replicaSource(t, e, ds, "primary", "t")
	addrOf := func(id string) string { t.Helper(); return e.addrOf(id) }
	srcAddr := addrOf(src.ID)
	q := func(addr, stmt string) string { return appSQL(t, ds.manager, addr, ds.port, stmt) }
	q(srcAddr, "INSERT INTO t VALUES (1), (2), (3)")
	reps := addReplicas(t, e, ds, src, version, 2)
	// The snapshots are gone once the replicas follow.
	if bs, _, err := e.db.ListBackups(ctx, catalog.BackupFilter{}); err != nil || len(bs) != 0 {
		t.Fatalf("backups left after the replica builds: %d %v", len(bs), err)
	}
	q(srcAddr, "INSERT INTO t VALUES (10), (11)")
	sg, _, err := e.m.guest(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	pos, err := sg.GetLatestTxnID(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	sum := "SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(n), 0)) FROM t"
	for i, id := range reps {
		g, _, err := e.m.guest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.WaitForTxn(ctx, rc, pos); err != nil {
			t.Fatalf("replica %d did not reach %s: %v", i+1, pos, err)
		}
		if got := q(addrOf(id), sum); got != "5:27" {
			t.Fatalf("replica %d holds %q", i+1, got)
		}
		out, err := ds.tenantWrite(addrOf(id), "INSERT INTO t VALUES (99)")
		if err == nil || !strings.Contains(string(out), "read-only") {
			t.Fatalf("write on replica %d: %v %s", i+1, err, out)
		}
	}

	// A restricted source's access rules name its replicas' addresses.
	peers := e.m.replicationPeers(ctx, e.get(src.ID))
	if len(peers) != 2 || !slices.Contains(peers, addrOf(reps[0])+"/32") || !slices.Contains(peers, addrOf(reps[1])+"/32") {
		t.Fatalf("source's replication peers %v", peers)
	}
	if peers := e.m.replicationPeers(ctx, e.get(reps[0])); len(peers) != 1 || peers[0] != srcAddr+"/32" {
		t.Fatalf("replica's replication peers %v", peers)
	}
	// Promote the first replica (switchover): it takes writes, which reach the old source and the other replica;
	// the old source refuses a tenant's write.
	for _, id := range append([]string{src.ID}, reps...) {
		if err := e.db.SetTask(ctx, id, status.TaskPromoting); err != nil {
			t.Fatal(err)
		}
	}
	began := time.Now()
	if err := e.m.PromoteToReplicaSource(ctx, rc, reps[0]); err != nil {
		t.Fatalf("promote: %v (fault %s)", err, e.fault(reps[0]))
	}
	t.Logf("promote (switchover) took %s", time.Since(began).Round(time.Millisecond))
	if got := e.get(reps[0]); got.SlaveOfID != "" || got.Task() != status.TaskNone {
		t.Fatalf("new source: slave_of %q task %q", got.SlaveOfID, got.TaskDescription)
	}
	for _, id := range []string{src.ID, reps[1]} {
		if got := e.get(id); got.SlaveOfID != reps[0] || got.Task() != status.TaskNone {
			t.Fatalf("%s after promote: slave_of %q task %q", id, got.SlaveOfID, got.TaskDescription)
		}
	}
	newAddr := addrOf(reps[0])
	if out, err := ds.tenantWrite(newAddr, "INSERT INTO t VALUES (100)"); err != nil {
		t.Fatalf("write on the new source: %v %s", err, out)
	}
	out, err := ds.tenantWrite(srcAddr, "INSERT INTO t VALUES (101)")
	if err == nil || !strings.Contains(string(out), "read-only") {
		t.Fatalf("write on the old source: %v %s", err, out)
	}
	ng, _, err := e.m.guest(ctx, reps[0])
	if err != nil {
		t.Fatal(err)
	}
	if pos, err = ng.GetLatestTxnID(ctx, rc); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{src.ID, reps[1]} {
		g, _, err := e.m.guest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.WaitForTxn(ctx, rc, pos); err != nil {
			t.Fatalf("%s did not follow the new source to %s: %v", id, pos, err)
		}
		if got := q(addrOf(id), sum); got != "6:127" {
			t.Fatalf("%s holds %q after the promote", id, got)
		}
	}

	// Detach the second replica: standalone and writable; the old source still follows the new one.
	if err := e.db.SetTask(ctx, reps[1], status.TaskDetaching); err != nil {
		t.Fatal(err)
	}
	if err := e.m.DetachReplica(ctx, rc, reps[1]); err != nil {
		t.Fatalf("detach: %v", err)
	}
	if got := e.get(reps[1]); got.SlaveOfID != "" || got.Task() != status.TaskNone {
		t.Fatalf("after detach: slave_of %q task %q", got.SlaveOfID, got.TaskDescription)
	}
	out, err = ds.tenantWrite(addrOf(reps[1]), "INSERT INTO t VALUES (99)")
	if err != nil {
		t.Fatalf("write on the detached replica: %v %s", err, out)
	}
	q(newAddr, "INSERT INTO t VALUES (12)")
	if pos, err = ng.GetLatestTxnID(ctx, rc); err != nil {
		t.Fatal(err)
	}
	g, _, err := e.m.guest(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.WaitForTxn(ctx, rc, pos); err != nil {
		t.Fatal(err)
	}
	if got := q(srcAddr, "SELECT COUNT(*) FROM t WHERE n = 12"); got != "1" {
		t.Fatalf("the old source does not follow the new one: %q", got)
	}
	if got := q(addrOf(reps[1]), "SELECT COUNT(*) FROM t WHERE n = 12"); got != "0" {
		t.Fatalf("the detached replica still follows: %q", got)
	}
	if peers := e.m.replicationPeers(ctx, e.get(reps[0])); len(peers) != 1 || peers[0] != srcAddr+"/32" {
		t.Fatalf("new source's replication peers after the detach %v", peers)
	}

	// Eject: a third replica joins the new source, the new source dies (server and guest gone), eject makes the
	// most advanced replica the source and the other follows it.
	r3 := e.instanceOf(version, "primary-3", "aead")
	src0 := reps[0]
	if err := e.db.UpdateInstance(ctx, r3.ID, catalog.InstanceUpdate{SlaveOfID: &src0}); err != nil {
		t.Fatal(err)
	}
	a := createArgsFor(r3, ds.image, ds.manager, ds.dsVersion)
	a.Databases, a.Users, a.RootPassword, a.SlaveOfID = nil, nil, nil, &src0
	if err := e.m.CreateInstance(ctx, rc, a); err != nil {
		e.dumpGuestLog(r3.ID)
		t.Fatalf("create replica 3: %v (fault %s)", err, e.fault(r3.ID))
	}
	defer e.dumpGuestLog(r3.ID)
	q(newAddr, "INSERT INTO t VALUES (200)")
	if pos, err = ng.GetLatestTxnID(ctx, rc); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{src.ID, r3.ID} {
		g, _, err := e.m.guest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.WaitForTxn(ctx, rc, pos); err != nil {
			t.Fatalf("%s before the eject: %v", id, err)
		}
	}
	if err := e.drv.DeleteServer(ctx, e.get(reps[0]).ComputeInstanceID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{reps[0], src.ID, r3.ID} {
		if err := e.db.SetTask(ctx, id, status.TaskEjecting); err != nil {
			t.Fatal(err)
		}
	}
	began = time.Now()
	if err := e.m.EjectReplicaSource(ctx, rc, reps[0]); err != nil {
		t.Fatalf("eject: %v (fault %s)", err, e.fault(reps[0]))
	}
	t.Logf("eject took %s", time.Since(began).Round(time.Millisecond))
	winner, follower := src.ID, r3.ID
	if e.get(r3.ID).SlaveOfID == "" {
		winner, follower = r3.ID, src.ID
	}
	if got := e.get(winner); got.SlaveOfID != "" || got.Task() != status.TaskNone {
		t.Fatalf("eject winner: slave_of %q task %q", got.SlaveOfID, got.TaskDescription)
	}
	if got := e.get(follower); got.SlaveOfID != winner || got.Task() != status.TaskNone {
		t.Fatalf("eject follower: slave_of %q task %q", got.SlaveOfID, got.TaskDescription)
	}
	if got := e.get(reps[0]); got.Task() != status.TaskNone || !strings.Contains(e.fault(reps[0]), "Ejected as replica source") {
		t.Fatalf("ejected source: task %q fault %q", got.TaskDescription, e.fault(reps[0]))
	}
	if n := q(addrOf(winner), "SELECT COUNT(*) FROM t WHERE n = 200"); n != "1" { // no row the replicas had is lost
		t.Fatalf("the new source lost a row: %q", n)
	}
	if out, err := ds.tenantWrite(addrOf(winner), "INSERT INTO t VALUES (300)"); err != nil {
		t.Fatalf("write on the eject winner: %v %s", err, out)
	}
	wg, _, err := e.m.guest(ctx, winner)
	if err != nil {
		t.Fatal(err)
	}
	if pos, err = wg.GetLatestTxnID(ctx, rc); err != nil {
		t.Fatal(err)
	}
	fg, _, err := e.m.guest(ctx, follower)
	if err != nil {
		t.Fatal(err)
	}
	if err := fg.WaitForTxn(ctx, rc, pos); err != nil {
		t.Fatalf("the follower does not follow the eject winner: %v", err)
	}
	if n := q(addrOf(follower), "SELECT COUNT(*) FROM t WHERE n = 300"); n != "1" {
		t.Fatalf("the follower holds %q rows of the new source's write", n)
	}
}
