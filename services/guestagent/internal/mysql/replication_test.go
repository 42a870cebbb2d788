package mysql

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// TestMariaDBReplication: a replica seeded from a backup of the source follows it by GTID from the backup's
// position; rows written on the source appear on it; a tenant's write on it is refused (read_only, also after
// a restart); detached, it is writable and no longer follows.
func TestMariaDBReplication(t *testing.T) {
	requireTools(t)
	ctx := context.Background()
	src, addr := start(t)
	if err := src.CreateDatabases(ctx, []guestapi.Schema{{Name: "app"}}); err != nil {
		t.Fatal(err)
	}
	pw := "app-Pa55word"
	if err := src.CreateUsers(ctx, []guestapi.User{{Name: "appuser", Host: "%", Password: &pw, Databases: []guestapi.Schema{{Name: "app"}}}}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, src, "CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(100)) ENGINE=InnoDB")
	mustExec(t, src, "INSERT INTO app.t SELECT seq, 'seed' FROM app.seq_1_to_1000")
	// A tenant can publish the general log (guest logs): the replication account's password never reaches it.
	generalLogOn(t, src)
	source, err := src.EnableAsSource(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if source.Host != addr || source.Port != 3306 || source.User != "os_repl" || source.GTID == "" {
		t.Fatalf("source %+v", source)
	}
	began := time.Now()
	var seed bytes.Buffer
	if err := src.Backup(ctx, &seed, "seed-1", nil); err != nil {
		t.Fatal(err)
	}
	// Written after the backup: the replica must get these through replication.
	mustExec(t, src, "INSERT INTO app.t SELECT seq, 'after seed' FROM app.seq_1001_to_1500")

	rep := fresh(t, 3307)
	if rep.serverID() == src.serverID() {
		t.Fatal("source and replica share a server_id")
	}
	if err := rep.Restore(ctx, refs("seed-1"), chainOpener(seed.Bytes())); err != nil {
		t.Fatal(err)
	}
	if err := rep.Prepare(ctx, datastore.PrepareSpec{}); err != nil {
		t.Fatal(err)
	}
	gtid, err := rep.RestoredGTID()
	if err != nil || gtid == "" {
		t.Fatalf("restored GTID %q %v", gtid, err)
	}
	source.GTID = gtid
	generalLogOn(t, rep)
	if err := rep.AttachReplica(ctx, source); err != nil {
		t.Fatal(err)
	}
	for m, logged := range map[*Manager]string{src: "os_repl", rep: "START SLAVE"} { // logged: the log ran meanwhile
		if log := generalLog(t, m); !strings.Contains(log, logged) || strings.Contains(log, source.Password) {
			t.Fatalf("the general log of %d (%d bytes) lacks %q or holds the replication password", m.opts.Port, len(log), logged)
		}
	}
	mustExec(t, src, "INSERT INTO app.t VALUES (2000, 'after attach')")
	pos, err := src.LatestTxnID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.WaitForTxn(ctx, pos, 30*time.Second); err != nil {
		running, msg, _ := rep.ReplicaRunning(ctx)
		t.Fatalf("%v (running %v: %s)", err, running, msg)
	}
	t.Logf("replica seeded and caught up in %s", time.Since(began).Round(time.Millisecond))
	if got, want := tableSum(t, rep), tableSum(t, src); got != want {
		t.Fatalf("replica holds %s, source %s", got, want)
	}
	if running, msg, err := rep.ReplicaRunning(ctx); err != nil || !running {
		t.Fatalf("replication threads: %v %q %v", running, msg, err)
	}
	// Attaching again to the same source from the seed's position (a repeated call, a resumed build) changes
	// nothing: no event is applied twice, replication keeps running.
	if err := rep.AttachReplica(ctx, source); err != nil {
		t.Fatal(err)
	}
	mustExec(t, src, "INSERT INTO app.t VALUES (2500, 'after a second attach')")
	if pos, err = src.LatestTxnID(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rep.WaitForTxn(ctx, pos, 30*time.Second); err != nil {
		running, msg, _ := rep.ReplicaRunning(ctx)
		t.Fatalf("after a second attach: %v (running %v: %s)", err, running, msg)
	}
	if got, want := tableSum(t, rep), tableSum(t, src); got != want {
		t.Fatalf("after a second attach the replica holds %s, source %s", got, want)
	}
	// Health with each heartbeat: the replica reports its lag (caught up: 0), the source none.
	if h, err := rep.Health(ctx); err != nil || !h.Up || h.Connections < 1 || h.ReplicationLag == nil || *h.ReplicationLag != 0 {
		t.Fatalf("replica health %+v %v", h, err)
	}
	if h, err := src.Health(ctx); err != nil || !h.Up || h.Connections < 2 || h.ReplicationLag != nil { // the agent and the replica's dump thread
		t.Fatalf("source health %+v %v", h, err)
	}
	// A tenant's write on the replica is refused; reads work.
	out, err := clientPort(addr, 3307, "appuser", pw, "app", "INSERT INTO t VALUES (3000, 'on the replica')")
	if err == nil || !strings.Contains(out, "read-only") {
		t.Fatalf("write on the replica: %q %v", out, err)
	}
	if out, err := clientPort(addr, 3307, "appuser", pw, "app", "SELECT v FROM t WHERE id = 2000"); err != nil || out != "after attach" {
		t.Fatalf("read on the replica: %q %v", out, err)
	}
	// Still read-only and following after a restart.
	if err := rep.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := clientPort(addr, 3307, "appuser", pw, "app", "INSERT INTO t VALUES (3001, 'x')"); err == nil {
		t.Fatalf("write on the restarted replica succeeded: %q", out)
	}
	mustExec(t, src, "INSERT INTO app.t VALUES (2001, 'after restart')")
	if pos, err = src.LatestTxnID(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rep.WaitForTxn(ctx, pos, 30*time.Second); err != nil {
		t.Fatalf("after restart: %v", err)
	}

	// Detached: writable, and the source's new rows no longer arrive.
	if err := rep.DetachReplica(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := clientPort(addr, 3307, "appuser", pw, "app", "INSERT INTO t VALUES (3002, 'standalone')"); err != nil {
		t.Fatalf("write on the detached replica: %q %v", out, err)
	}
	mustExec(t, src, "INSERT INTO app.t VALUES (2002, 'not replicated')")
	time.Sleep(time.Second)
	if out, _ := clientPort(addr, 3307, "appuser", pw, "app", "SELECT COUNT(*) FROM t WHERE id = 2002"); out != "0" {
		t.Fatalf("detached replica still follows: %q", out)
	}
	if running, msg, _ := rep.ReplicaRunning(ctx); running || msg != "not a replica" {
		t.Fatalf("after detach: running %v %q", running, msg)
	}
	// Values that would need quoting in CHANGE MASTER are refused.
	bad := source
	bad.Password = "x', MASTER_HOST='evil"
	if err := rep.AttachReplica(ctx, bad); datastore.KindOf(err) != datastore.KindBadRequest {
		t.Fatalf("attach with a quoting password: %v", err)
	}
}

// clientPort runs the real mariadb client over TCP on addr:port as user/pw and returns its batch output.
func clientPort(addr string, port int, user, pw, db, sql string) (string, error) {
	args := []string{"--no-defaults", "-h", addr, "-P", strconv.Itoa(port), "-u", user, "-N", "-B", "-e", sql}
	if db != "" {
		args = append(args, "-D", db)
	}
	cmd := exec.Command("mariadb", args...)
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+pw)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// generalLogOn turns the general query log on as the guest log "general" does (kept across restarts).
func generalLogOn(t *testing.T, m *Manager) {
	t.Helper()
	on, _ := datastore.GuestLogSettings(m.opts.Layout, "mariadb", "general", 1000)
	if err := datastore.SaveEnabledLogs(m.opts.Layout, map[string]map[string]string{"general": on}); err != nil {
		t.Fatal(err)
	}
	if err := m.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// generalLog is the server's general query log.
func generalLog(t *testing.T, m *Manager) string {
	t.Helper()
	b, err := os.ReadFile(datastore.GuestLogFile(m.opts.Layout, "mariadb", "general"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
