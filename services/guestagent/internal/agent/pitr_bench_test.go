package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/backupcrypt"
	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/guestapi"
)

// BenchmarkPITRPostgreSQL measures point-in-time recovery on real PostgreSQL servers, once per b.N: a source of
// TROVE_BENCH_PITR_MB (default 64) is backed up, then takes a steady load (20 commits a second for
// TROVE_BENCH_PITR_SECONDS, default 20) while its agent ships archived WAL every 2 s (archive_timeout 60 s, the
// default, and a WAL switch every 10 s by the load); archive-lag-s-p50/p99 is commit → its segment in the store.
// Then the backup is restored twice into new servers: restore-base-s (the backup alone, the baseline) and
// restore-pitr-s (the backup plus the WAL replayed to the last commit).
//
//	TROVE_BENCH_PITR_MB=1024 TROVE_BENCH_PITR_SECONDS=600 go test ./internal/agent -run '^$' -bench BenchmarkPITRPostgreSQL -benchtime 1x
func BenchmarkPITRPostgreSQL(b *testing.B) {
	mb, secs := pitrBenchSize()
	for i := 0; i < b.N; i++ {
		benchPITROnce(b, mb, secs)
	}
}

func benchPITROnce(b *testing.B, mb, secs int) {
	ctx := context.Background()
	store := b.TempDir()
	keys := backupcrypt.Keys{Current: kekOld}
	const srcID = "a0000000-0000-4000-8000-0000000000b1"
	src, err := pgAgent(b, loopback(71), store, srcID, nil, keys)
	if err != nil {
		b.Fatal(err)
	}
	sql := func(stmt string) string { return pgSQL(b, loopback(71), stmt) }
	sql("CREATE TABLE big (id int, v text); CREATE TABLE t (n int, at timestamptz DEFAULT clock_timestamp())")
	// 1 KiB rows of random hex (the subquery is correlated with g, so it runs per row)
	sql(fmt.Sprintf("INSERT INTO big SELECT g, (SELECT string_agg(md5(random()::text || s::text), '') FROM generate_series(1, 32) s WHERE g > 0) "+
		"FROM generate_series(1, %d) g", mb*1024))
	const backupID = "5f1f1d0e-0000-4000-8000-0000000000b1"
	obj, err := src.CreateBackup(ctx, guestapi.BackupInfo{ID: backupID, BackupType: guestapi.BackupFull,
		StorageDriver: backupstore.DriverDirectory}, backupstore.Credentials{})
	if err != nil {
		b.Fatal(err)
	}

	// The load: each commit's WAL segment and time; the shipper records when each segment reached the store.
	w := watchShipping(b, src, store, srcID)
	began := time.Now()
	for n := 1; time.Since(began) < time.Duration(secs)*time.Second; n++ {
		w.committed(sql(fmt.Sprintf("INSERT INTO t (n) VALUES (%d); SELECT pg_walfile_name(pg_current_wal_lsn())", n)))
		if n%200 == 0 {
			sql("SELECT pg_switch_wal()")
		}
		time.Sleep(50 * time.Millisecond)
	}
	target := time.Now()
	time.Sleep(100 * time.Millisecond)
	// a commit after the target ends the replay there (recovery must see a later commit to stop at the target)
	w.committed(sql("INSERT INTO t (n) VALUES (-1); SELECT pg_walfile_name(pg_current_wal_lsn())"))
	sql("SELECT pg_switch_wal()")
	w.finish(b)

	info := guestapi.RestoreInfo{ID: backupID, InstanceID: srcID, Location: obj.Location, Checksum: obj.MD5, Type: "full",
		StorageDriver: backupstore.DriverDirectory, Chain: []guestapi.RestoreLink{{ID: backupID, Location: obj.Location, Checksum: obj.MD5}}}
	t0 := time.Now()
	if _, err := pgAgent(b, loopback(72), store, "a0000000-0000-4000-8000-0000000000b2", info.Map(), keys); err != nil {
		b.Fatalf("restore: %v", err)
	}
	b.ReportMetric(time.Since(t0).Seconds(), "restore-base-s")
	info.RestoreTime = target.UTC().Format(time.RFC3339Nano)
	t0 = time.Now()
	if _, err := pgAgent(b, loopback(73), store, "a0000000-0000-4000-8000-0000000000b3", info.Map(), keys); err != nil {
		b.Fatalf("restore to %s: %v", info.RestoreTime, err)
	}
	b.ReportMetric(time.Since(t0).Seconds(), "restore-pitr-s")
	if got, want := pgSQL(b, loopback(73), "SELECT count(*) FROM t"), strconv.Itoa(w.count()-1); got != want {
		b.Fatalf("restored to the last commit: %s rows, want %s", got, want)
	}
}

// BenchmarkPITRMariaDB is BenchmarkPITRPostgreSQL for MariaDB: a source of TROVE_BENCH_PITR_MB (default 64) is
// backed up, then takes 20 commits a second for TROVE_BENCH_PITR_SECONDS (default 20) while its agent ships
// closed binary log files every 2 s (binlog_flush_interval 10 s); archive-lag-s-p50/p99 is commit → its file in
// the store. Then restore-base-s (the backup alone, the baseline) and restore-pitr-s (the backup plus the
// binary log replayed to a whole second after the last commit, as mariadb-binlog --stop-datetime takes it).
//
//	TROVE_BENCH_PITR_MB=1024 TROVE_BENCH_PITR_SECONDS=600 go test ./internal/agent -run '^$' -bench BenchmarkPITRMariaDB -benchtime 1x
func BenchmarkPITRMariaDB(b *testing.B) {
	mb, secs := pitrBenchSize()
	for i := 0; i < b.N; i++ {
		benchPITRMariaDBOnce(b, mb, secs)
	}
}

func benchPITRMariaDBOnce(b *testing.B, mb, secs int) {
	ctx := context.Background()
	store := b.TempDir()
	keys := backupcrypt.Keys{Current: kekOld}
	const srcID = "a0000000-0000-4000-8000-0000000000c1"
	src, err := mariadbPITRAgentFlushing(b, loopback(74), store, srcID, nil, keys, 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	sql := func(stmt string) string { return rootSQL(b, loopback(74), stmt) }
	sql("CREATE DATABASE app; CREATE TABLE app.big (id INT PRIMARY KEY, v TEXT); CREATE TABLE app.t (n INT)")
	// 1 KiB rows of random hex, 1024 to a statement
	for done := 0; done < mb*1024; done += 1024 {
		sql(fmt.Sprintf("USE app; INSERT INTO big SELECT seq, REPEAT(MD5(RAND()), 32) FROM seq_%d_to_%d", done+1, done+1024))
	}
	const backupID = "5f1f1d0e-0000-4000-8000-0000000000c1"
	obj, err := src.CreateBackup(ctx, guestapi.BackupInfo{ID: backupID, BackupType: guestapi.BackupFull,
		StorageDriver: backupstore.DriverDirectory}, backupstore.Credentials{})
	if err != nil {
		b.Fatal(err)
	}

	w := watchShipping(b, src, store, srcID)
	// the binary log file a commit went to: SHOW MASTER STATUS right after it, in the same session
	insert := func(n int) {
		w.committed(strings.Fields(sql(fmt.Sprintf("INSERT INTO app.t VALUES (%d); SHOW MASTER STATUS", n)))[0])
	}
	began := time.Now()
	for n := 1; time.Since(began) < time.Duration(secs)*time.Second; n++ {
		insert(n)
		time.Sleep(50 * time.Millisecond)
	}
	loaded := w.count()
	// the target: the next whole second (the binary log's timestamps are whole seconds); a commit after it
	target := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(target) + 1100*time.Millisecond)
	insert(-1)
	sql("FLUSH BINARY LOGS")
	w.finish(b)

	info := guestapi.RestoreInfo{ID: backupID, InstanceID: srcID, Location: obj.Location, Checksum: obj.MD5, Type: "full",
		StorageDriver: backupstore.DriverDirectory, Chain: []guestapi.RestoreLink{{ID: backupID, Location: obj.Location, Checksum: obj.MD5}}}
	t0 := time.Now()
	if _, err := mariadbPITRAgent(b, loopback(75), store, "a0000000-0000-4000-8000-0000000000c2", info.Map(), keys); err != nil {
		b.Fatalf("restore: %v", err)
	}
	b.ReportMetric(time.Since(t0).Seconds(), "restore-base-s")
	info.RestoreTime = target.UTC().Format(time.RFC3339Nano)
	t0 = time.Now()
	if _, err := mariadbPITRAgent(b, loopback(76), store, "a0000000-0000-4000-8000-0000000000c3", info.Map(), keys); err != nil {
		b.Fatalf("restore to %s: %v", info.RestoreTime, err)
	}
	b.ReportMetric(time.Since(t0).Seconds(), "restore-pitr-s")
	if got := rootSQL(b, loopback(76), "SELECT COUNT(*) FROM app.t"); got != strconv.Itoa(loaded) {
		b.Fatalf("restored to %s: %s rows, want the %d committed before it", info.RestoreTime, got, loaded)
	}
}

// shipWatch ships src's log every 2 s into store and records when each commit's log file (its name: a WAL
// segment or a binary log file) reached the store, for the archive-lag metrics.
type shipWatch struct {
	mu      sync.Mutex
	commits []shipCommit
	shipped map[string]time.Time
	stop    chan struct{}
	done    chan struct{}
}

type shipCommit struct {
	file string
	at   time.Time
}

func watchShipping(b *testing.B, src *Agent, store, srcID string) *shipWatch {
	w := &shipWatch{shipped: map[string]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(2 * time.Second):
			}
			if _, err := src.ShipLogs(context.Background()); err != nil {
				b.Error(err)
				return
			}
			w.mu.Lock()
			for _, c := range w.commits {
				if _, ok := w.shipped[c.file]; !ok {
					if _, err := os.Stat(filepath.Join(store, testTenant, "wal-"+srcID+"-"+c.file+".gz")); err == nil {
						w.shipped[c.file] = time.Now()
					}
				}
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// committed records a commit that went to log file file.
func (w *shipWatch) committed(file string) {
	w.mu.Lock()
	w.commits = append(w.commits, shipCommit{file, time.Now()})
	w.mu.Unlock()
}

func (w *shipWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.commits)
}

// finish waits until every commit's file is in the store, stops shipping and reports the lags.
func (w *shipWatch) finish(b *testing.B) {
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		w.mu.Lock()
		missing := 0
		for _, c := range w.commits {
			if _, ok := w.shipped[c.file]; !ok {
				missing++
			}
		}
		w.mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d commits' log files not shipped within 3 minutes", missing)
		}
	}
	close(w.stop)
	<-w.done
	var lags []float64
	for _, c := range w.commits {
		lags = append(lags, w.shipped[c.file].Sub(c.at).Seconds())
	}
	sort.Float64s(lags)
	b.ReportMetric(lags[len(lags)/2], "archive-lag-s-p50")
	b.ReportMetric(lags[len(lags)*99/100], "archive-lag-s-p99")
}

// pitrBenchSize is the PITR benchmarks' base size in MB (TROVE_BENCH_PITR_MB, 64) and load duration in seconds
// (TROVE_BENCH_PITR_SECONDS, 20).
func pitrBenchSize() (mb, secs int) {
	mb, secs = 64, 20
	if s := os.Getenv("TROVE_BENCH_PITR_MB"); s != "" {
		mb, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("TROVE_BENCH_PITR_SECONDS"); s != "" {
		secs, _ = strconv.Atoi(s)
	}
	return mb, secs
}
