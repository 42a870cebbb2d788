package flows

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/status"
)

// appDB opens the created user's database on a MariaDB address with short timeouts (a writer that must notice
// a dead server quickly).
func appDB(t testing.TB, addr string) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "appuser", "secret-pw-1", "tcp", addr+":3306", "appdb"
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = time.Second, 2*time.Second, 2*time.Second
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// killGuest kills an instance's guest agent and its process group (the database server dies with its agent):
// the instance's machine is gone, its server stays (SHUTOFF on the local driver).
func killGuest(t testing.TB, e *env, id string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.drv.InstanceDir(e.get(id).ComputeInstanceID), "guest.pid"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil || pid <= 0 {
		t.Fatalf("guest.pid %q: %v", b, err)
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing the guest's process group %d: %v", pid, err)
	}
}

// Automatic failover with real guests (testAutoFailover), MariaDB and PostgreSQL.
func TestMariaDBAutoFailoverWithRealGuest(t *testing.T) {
	testAutoFailover(t, replDS{image: "mariadb-local", manager: "mariadb", dsVersion: "10.11", port: 3306})
}

func TestPostgreSQLAutoFailoverWithRealGuest(t *testing.T) {
	testAutoFailover(t, replDS{image: "postgresql-15-local", manager: "postgresql", dsVersion: "15", port: 5432})
}

// testAutoFailover: a source with two replicas under a stream of writes; its guest and database are killed; the
// watcher fences the source (server deleted), promotes the most advanced replica, the other follows it, and the
// old source is rebuilt as a read-only replica of the new one from a new volume — it never takes a write again,
// and the taskmanager's restart of stopped servers does not bring the old one back. Before that, a healthy
// source and one whose database is stopped while its guest answers are left alone.
func testAutoFailover(t *testing.T, ds replDS) {
	e := newGuestEnv(t)
	e.m.Config.FailoverTimeout, e.m.Config.FailoverPoll = 3*time.Second, 250*time.Millisecond
	ctx := context.Background()
	src, version := replicaSource(t, e, ds, "fo", "w")
	addrOf := func(id string) string { t.Helper(); return e.addrOf(id) }
	srcAddr := addrOf(src.ID)
	q := func(addr, stmt string) string { return appSQL(t, ds.manager, addr, ds.port, stmt) }
	reps := addReplicas(t, e, ds, src, version, 2)
	oldServer, oldVolume := e.get(src.ID).ComputeInstanceID, e.get(src.ID).VolumeID
	// The guests' heartbeats carry their database's health: a replica's lag, none on the source.
	waitFor(t, "the guests' health with their heartbeats", func() bool {
		sh, serr := e.db.GetHealth(ctx, src.ID)
		rh, rerr := e.db.GetHealth(ctx, reps[0])
		return serr == nil && rerr == nil && sh.Up && sh.ReplicationLag == nil && rh.Up && rh.ReplicationLag != nil && *rh.ReplicationLag < 5
	})
	if ds.manager == "mariadb" { // a table only the old source has (outside its binary log)
		q(srcAddr, "SET SESSION sql_log_bin = 0; CREATE TABLE only_old (x INT)")
	}

	// A healthy set is left alone.
	if err := e.m.CheckFailover(ctx); err != nil {
		t.Fatal(err)
	}
	e.m.Wait()
	if got := e.get(src.ID); got.SlaveOfID != "" || got.ComputeInstanceID != oldServer {
		t.Fatalf("a healthy source was touched: slave_of %q server %q", got.SlaveOfID, got.ComputeInstanceID)
	}

	// A source whose database is down but whose guest answers is not failed over (its agent restarts it).
	sg, _, err := e.m.guest(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := sg.StopDB(ctx, rc); err != nil {
		t.Fatalf("stop_db: %v", err)
	}
	for end := time.Now().Add(e.m.Config.FailoverTimeout + time.Second); time.Now().Before(end); time.Sleep(e.m.Config.FailoverPoll) {
		if err := e.m.CheckFailover(ctx); err != nil {
			t.Fatal(err)
		}
	}
	e.m.Wait()
	if got := e.get(src.ID); got.SlaveOfID != "" || got.ComputeInstanceID != oldServer || got.Task() != status.TaskNone {
		t.Fatalf("a source with a live guest was failed over: slave_of %q server %q task %q", got.SlaveOfID, got.ComputeInstanceID, got.TaskDescription)
	}
	if err := sg.Restart(ctx, rc); err != nil {
		t.Fatalf("restart: %v", err)
	}
	q(srcAddr, "INSERT INTO w VALUES (0)")
	pos, err := sg.GetLatestTxnID(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range reps { // the replicas reconnected (every MASTER_CONNECT_RETRY) and caught up
		g, _, err := e.m.guest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.WaitForTxn(ctx, rc, pos); err != nil {
			t.Fatalf("replica %s after the source's restart: %v", id, err)
		}
	}

	// A stream of writes on the source; each acknowledged n is recorded with its time.
	type ack struct {
		n  int
		at time.Time
	}
	var (
		mu    sync.Mutex
		acked []ack
	)
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	write := func(addr string, n int) error { // as the tenant
		if ds.manager == "mariadb" {
			_, err := appDB(t, addr).Exec("INSERT INTO w VALUES (?)", n)
			return err
		}
		_, err := ds.tenantWrite(addr, fmt.Sprintf("INSERT INTO w VALUES (%d)", n))
		return err
	}
	record := func(n int) {
		mu.Lock()
		acked = append(acked, ack{n, time.Now()})
		mu.Unlock()
	}
	go func() { // one session, as an application's
		defer close(writerDone)
		if ds.manager == "postgresql" {
			pgStream(srcAddr, stop, record)
			return
		}
		db := appDB(t, srcAddr)
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := db.Exec("INSERT INTO w VALUES (?)", n); err == nil {
				record(n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	time.Sleep(3 * time.Second)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go e.m.RunFailover(wctx)
	killed := time.Now()
	killGuest(t, e, src.ID)

	// Until a replica is the source and takes a write.
	var winner string
	deadline := time.Now().Add(90 * time.Second)
	for winner == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no replica became the source within 90 s (source fault: %s)", e.fault(src.ID))
		}
		for _, id := range reps {
			if e.get(id).SlaveOfID != "" {
				continue
			}
			if err := write(addrOf(id), -1); err == nil {
				winner = id
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(killed)
	close(stop)
	<-writerDone
	t.Logf("automatic failover: source killed → %s takes writes in %s (timeout %s)", winner, took.Round(time.Millisecond), e.m.Config.FailoverTimeout)
	follower := reps[0]
	if follower == winner {
		follower = reps[1]
	}

	// Rows acknowledged by the source more than a second before its death reached the new source.
	mu.Lock()
	var early []int
	for _, a := range acked {
		if a.at.Before(killed.Add(-time.Second)) {
			early = append(early, a.n)
		}
	}
	total := len(acked)
	mu.Unlock()
	if len(early) < 10 {
		t.Fatalf("only %d writes acknowledged before the kill", len(early))
	}
	winnerAddr := addrOf(winner)
	has := q(winnerAddr, fmt.Sprintf("SELECT COUNT(*) FROM w WHERE n BETWEEN 1 AND %d", early[len(early)-1]))
	if has != fmt.Sprint(len(early)) {
		t.Fatalf("the new source holds %s of the %d rows acknowledged before the kill", has, len(early))
	}
	onNew := q(winnerAddr, "SELECT COUNT(*) FROM w WHERE n > 0")
	t.Logf("%d writes acknowledged by the old source; the new source holds %s of the stream's rows", total, onNew)

	// The old source was fenced (server deleted), then rebuilt as a replica of the winner: it follows it and
	// refuses a tenant's write; its old server and volume are gone.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		got := e.get(src.ID)
		f, _ := e.db.GetFault(ctx, src.ID) // recorded once the rebuild succeeded
		if got.SlaveOfID == winner && got.Task() == status.TaskNone && strings.Contains(f.Message, "Automatic failover") {
			break
		}
		if (got.Task() != status.TaskBuilding && got.Task() != status.TaskEjecting && got.Task() != status.TaskNone) || time.Now().After(deadline) {
			t.Fatalf("old source not rebuilt as a replica: task %q slave_of %q fault %s", got.TaskDescription, got.SlaveOfID, e.fault(src.ID))
		}
	}
	t.Logf("the old source was rebuilt as a replica %s after the kill", time.Since(killed).Round(time.Millisecond))
	if got := e.get(follower); got.SlaveOfID != winner || got.Task() != status.TaskNone {
		t.Fatalf("the other replica: slave_of %q task %q", got.SlaveOfID, got.TaskDescription)
	}
	if got := e.get(winner); got.Task() != status.TaskNone {
		t.Fatalf("the new source: task %q", got.TaskDescription)
	}
	// The rebuilt replica holds the new source's data on a new volume, not the old volume's: the old volume is
	// gone, and a table only the old source had (MariaDB: written outside its binary log) is too.
	if _, err := e.drv.GetVolume(ctx, oldVolume); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("the fenced source's volume %s: %v", oldVolume, err)
	}
	if v := e.get(src.ID).VolumeID; v == "" || v == oldVolume {
		t.Fatalf("the rebuilt replica's volume %q (old %s)", v, oldVolume)
	}
	if ds.manager == "mariadb" {
		if got := q(addrOf(src.ID), "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'only_old'"); got != "0" {
			t.Fatalf("the rebuilt replica still has the old source's data (only_old: %s)", got)
		}
	}
	q(winnerAddr, "INSERT INTO w VALUES (-2)")
	wg, _, err := e.m.guest(ctx, winner)
	if err != nil {
		t.Fatal(err)
	}
	if pos, err = wg.GetLatestTxnID(ctx, rc); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{src.ID, follower} {
		g, _, err := e.m.guest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.WaitForTxn(ctx, rc, pos); err != nil {
			t.Fatalf("%s does not follow the new source: %v", id, err)
		}
		if got := q(addrOf(id), "SELECT COUNT(*) FROM w WHERE n = -2"); got != "1" {
			t.Fatalf("%s lacks the new source's write: %q", id, got)
		}
		out, err := ds.tenantWrite(addrOf(id), "INSERT INTO w VALUES (-3)")
		if err == nil || !strings.Contains(string(out), "read-only") {
			t.Fatalf("a tenant's write on %s: %v %s", id, err, out)
		}
	}
	// A taskmanager restart starts stopped servers: the fenced one is not among them.
	started, err := e.drv.StartStopped(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(started, oldServer) {
		t.Fatalf("the fenced server %s was started again", oldServer)
	}
}

// pgStream inserts rows 1, 2, … into w through one psql session as the tenant, each after the previous one's
// acknowledgement (record), until stop or until the session ends (the server died).
func pgStream(addr string, stop <-chan struct{}, record func(n int)) {
	cmd := exec.Command("psql", "-X", "-h", addr, "-p", "5432", "-U", "appuser", "-d", "appdb")
	cmd.Env = append(os.Environ(), "PGPASSWORD=secret-pw-1", "PGCONNECT_TIMEOUT=5")
	in, err := cmd.StdinPipe()
	if err != nil {
		return
	}
	out, err := cmd.StdoutPipe()
	if err != nil || cmd.Start() != nil {
		return
	}
	defer func() { in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	acks := bufio.NewScanner(out)
	for n := 1; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		if _, err := fmt.Fprintf(in, "INSERT INTO w VALUES (%d);\n", n); err != nil || !acks.Scan() {
			return
		}
		if strings.HasPrefix(acks.Text(), "INSERT 0 1") {
			record(n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
