package flows

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/guestapi"
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
