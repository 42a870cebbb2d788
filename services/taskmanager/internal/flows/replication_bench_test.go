package flows

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/status"
)

// BenchmarkReplication measures MariaDB replication with real guests on the local driver, once per b.N:
// replica-create-s (snapshot of a source holding TROVE_BENCH_REPL_MB of incompressible rows — default 64 —,
// restore, attach: the create_instance flow), the lag under a steady load (lag-ms-p50/p99: a row written on the
// source every 20 ms until it is readable on the replica), promote-s (switchover), and failover-s: the new source
// killed, automatic failover with the default auto_failover_timeout (15 s) and poll (2 s), until a replica takes a
// write (the target: < 30 s).
//
//	TROVE_BENCH_REPL_MB=1024 go test ./internal/flows -run '^$' -bench BenchmarkReplication -benchtime 1x
func BenchmarkReplication(b *testing.B) {
	mb := 64
	if s := os.Getenv("TROVE_BENCH_REPL_MB"); s != "" {
		mb, _ = strconv.Atoi(s)
	}
	for i := 0; i < b.N; i++ {
		benchReplicationOnce(b, mb)
	}
}

func benchReplicationOnce(b *testing.B, mb int) {
	e := newGuestEnv(b)
	e.m.Config.FailoverTimeout, e.m.Config.FailoverPoll = 15*time.Second, 2*time.Second
	ctx := context.Background()
	src := e.instanceOf(e.version, "bench", "aead")
	a := createArgsFor(src, "mariadb-local", "mariadb", "10.11")
	size := mb/512 + 2
	a.VolumeSize = &size
	if err := e.m.CreateInstance(ctx, rc, a); err != nil {
		b.Fatalf("create: %v", err)
	}
	addrOf := func(id string) string {
		srv, err := e.drv.GetServer(ctx, e.get(id).ComputeInstanceID)
		if err != nil {
			b.Fatal(err)
		}
		return srv.Addresses[0].Addr
	}
	srcAddr := addrOf(src.ID)
	appSQL(b, "mariadb", srcAddr, 3306, "CREATE TABLE big (id INT PRIMARY KEY AUTO_INCREMENT, v LONGBLOB); CREATE TABLE w (n INT PRIMARY KEY, at BIGINT)")
	appSQL(b, "mariadb", srcAddr, 3306, "INSERT INTO big (v) VALUES (RANDOM_BYTES(1024)), (RANDOM_BYTES(1024))")
	for n := 2; n < mb*1024; n *= 2 {
		appSQL(b, "mariadb", srcAddr, 3306, "INSERT INTO big (v) SELECT RANDOM_BYTES(1024) FROM big")
	}

	var reps []string
	var create time.Duration
	for i := 1; i <= 2; i++ {
		r := e.instanceOf(e.version, fmt.Sprintf("bench-%d", i), "aead")
		srcID := src.ID
		if err := e.db.UpdateInstance(ctx, r.ID, catalog.InstanceUpdate{SlaveOfID: &srcID}); err != nil {
			b.Fatal(err)
		}
		ra := createArgsFor(r, "mariadb-local", "mariadb", "10.11")
		ra.Databases, ra.Users, ra.RootPassword, ra.SlaveOfID, ra.VolumeSize = nil, nil, nil, &srcID, &size
		t0 := time.Now()
		if err := e.m.CreateInstance(ctx, rc, ra); err != nil {
			b.Fatalf("create replica %d: %v (fault %s)", i, err, e.fault(r.ID))
		}
		if i == 1 {
			create = time.Since(t0)
		}
		reps = append(reps, r.ID)
	}
	b.ReportMetric(create.Seconds(), "replica-create-s")

	// Lag under a steady load: one row every 20 ms for 5 s, each timed until the replica has it.
	srcDB, repDB := appDB(b, srcAddr), appDB(b, addrOf(reps[0]))
	var lags []time.Duration
	for n := 1; n <= 250; n++ {
		t0 := time.Now()
		if _, err := srcDB.Exec("INSERT INTO w VALUES (?, ?)", n, t0.UnixNano()); err != nil {
			b.Fatal(err)
		}
		for {
			var c int
			if err := repDB.QueryRow("SELECT COUNT(*) FROM w WHERE n = ?", n).Scan(&c); err == nil && c == 1 {
				break
			}
			if time.Since(t0) > 30*time.Second {
				b.Fatalf("row %d not on the replica after 30 s", n)
			}
			time.Sleep(time.Millisecond)
		}
		lags = append(lags, time.Since(t0))
		time.Sleep(max(0, 20*time.Millisecond-time.Since(t0)))
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "lag-ms-p50")
	b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "lag-ms-p99")

	// Promote (switchover) the first replica.
	for _, id := range append([]string{src.ID}, reps...) {
		if err := e.db.SetTask(ctx, id, status.TaskPromoting); err != nil {
			b.Fatal(err)
		}
	}
	t0 := time.Now()
	if err := e.m.PromoteToReplicaSource(ctx, rc, reps[0]); err != nil {
		b.Fatalf("promote: %v", err)
	}
	b.ReportMetric(time.Since(t0).Seconds(), "promote-s")

	// Automatic failover of the new source.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go e.m.RunFailover(wctx)
	killed := time.Now()
	killGuest(b, e, reps[0])
	var once sync.Once
	for done := false; !done; time.Sleep(100 * time.Millisecond) {
		if time.Since(killed) > 2*time.Minute {
			b.Fatal("no failover within 2 minutes")
		}
		for _, id := range []string{src.ID, reps[1]} {
			if e.get(id).SlaveOfID != "" {
				continue
			}
			if _, err := appDB(b, addrOf(id)).Exec("INSERT INTO w VALUES (-1, 0)"); err == nil {
				once.Do(func() { b.ReportMetric(time.Since(killed).Seconds(), "failover-s") })
				done = true
			}
		}
	}
	cancel()
	e.m.Wait()
}
