package postgresql

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// TestPostgreSQLReplication: two replicas seeded from one backup of the source start as standbys and stream
// from it through slots of their own; rows written on the source before and after the attach arrive; a
// tenant's write on a standby is refused (also after a restart). A switchover as the taskmanager runs it
// (make_read_only on the source, the first replica waits for its last LSN and is detached, the old source and
// the second replica attach to it) loses nothing and the old source follows the new one; a detached replica
// is writable and no longer follows.
func TestPostgreSQLReplication(t *testing.T) {
	ctx := context.Background()
	src := freshPort(t, 5432)
	if err := src.Prepare(ctx, datastore.PrepareSpec{}); err != nil {
		t.Fatal(err)
	}
	addr := src.opts.BindHost
	if err := src.CreateDatabases(ctx, []guestapi.Schema{{Name: "app"}}); err != nil {
		t.Fatal(err)
	}
	pw := "app-Pa55word"
	if err := src.CreateUsers(ctx, []guestapi.User{{Name: "appuser", Host: "%", Password: &pw, Databases: []guestapi.Schema{{Name: "app"}}}}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, src, "CREATE TABLE t (id int PRIMARY KEY, v text); GRANT ALL ON t TO appuser; INSERT INTO t SELECT g, 'seed' FROM generate_series(1, 1000) g")
	source, err := src.EnableAsSource(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if source.Host != addr || source.Port != 5432 || source.User != "os_repl" || checkLSN(source.GTID) != nil || source.GTID == "" {
		t.Fatalf("source %s:%d %s at %q", source.Host, source.Port, source.User, source.GTID)
	}
	for i := 0; ; i++ { // the reload is asynchronous
		rows, err := src.query(ctx, "postgres", "SELECT current_setting('wal_keep_size') || ' ' || current_setting('max_slot_wal_keep_size')")
		if err == nil && len(rows) == 1 && rows[0][0] == "512MB 8GB" {
			break
		}
		if i == 50 {
			t.Fatalf("a source keeps WAL for replicas being built: wal_keep_size %v %v", rows, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if again, err := src.EnableAsSource(ctx); err != nil || again.Password != source.Password {
		t.Fatalf("enable as source again: %v (same password %v)", err, again.Password == source.Password)
	}
	if page, err := src.ListUsers(ctx, guestapi.ListArgs{}); err != nil || len(page.Items) != 1 || page.Items[0].Name != "appuser" {
		t.Fatalf("users listed on the source: %+v %v", page.Items, err)
	}
	began := time.Now()
	var seed bytes.Buffer
	if err := src.Backup(ctx, &seed, "seed-1", nil); err != nil {
		t.Fatal(err)
	}
	mustExec(t, src, "INSERT INTO t SELECT g, 'after seed' FROM generate_series(1001, 1500) g") // reaches the replicas by streaming

	write := func(m *Manager, id int) (string, error) {
		return clientPort(addr, m.opts.Port, "appuser", pw, "app", fmt.Sprintf("INSERT INTO t VALUES (%d, 'w')", 90000+id))
	}
	readOnly := func(m *Manager, what string) {
		t.Helper()
		if out, err := write(m, 9); err == nil || !strings.Contains(out, "read-only transaction") {
			t.Fatalf("write on %s: %q %v", what, out, err)
		}
	}
	caughtUp := func(from *Manager, reps ...*Manager) {
		t.Helper()
		pos, err := from.LatestTxnID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range reps {
			if err := r.WaitForTxn(ctx, pos, 30*time.Second); err != nil {
				_, st, _ := r.Streaming(ctx)
				t.Fatalf("replica %d at port %d: %v (WAL receiver %s)", i, r.opts.Port, err, st)
			}
			if got, want := tableSum(t, r), tableSum(t, from); got != want {
				t.Fatalf("replica at port %d holds %s, its source %s", r.opts.Port, got, want)
			}
		}
	}
	var reps []*Manager
	for _, port := range []int{5433, 5434} {
		r := freshPort(t, port)
		if r.slotName() == src.slotName() {
			t.Fatal("source and replica share a slot name")
		}
		if err := r.RestoreReplicaSeed(ctx, refs("seed-1"), chainOpener(seed.Bytes())); err != nil {
			t.Fatal(err)
		}
		if err := r.Prepare(ctx, datastore.PrepareSpec{}); err != nil {
			t.Fatal(err)
		}
		if standby, err := r.inRecovery(ctx); err != nil || !standby {
			t.Fatalf("restored seed at %d: standby %v %v", port, standby, err)
		}
		if err := r.AttachReplica(ctx, source); err != nil {
			t.Fatal(err)
		}
		reps = append(reps, r)
	}
	mustExec(t, src, "INSERT INTO t VALUES (2000, 'after attach')")
	caughtUp(src, reps...)
	t.Logf("two replicas seeded and caught up in %s", time.Since(began).Round(time.Millisecond))

	// A replica can be backed up in full (pg_basebackup on the standby), and that backup restores to a server
	// with the rows; an incremental of a replica is refused saying why.
	var rb bytes.Buffer
	if err := reps[0].Backup(ctx, &rb, "replica-full", nil); err != nil {
		t.Fatalf("full backup of a replica: %v", err)
	}
	if err := reps[0].Backup(ctx, io.Discard, "replica-inc", &datastore.BackupRef{ID: "replica-full"}); datastore.KindOf(err) != datastore.KindBackupCreation ||
		!strings.Contains(err.Error(), "incremental backup of a replica") {
		t.Fatalf("incremental backup of a replica: %v", err)
	}
	fromReplica := freshPort(t, 5435)
	if err := fromReplica.Restore(ctx, refs("replica-full"), chainOpener(rb.Bytes())); err != nil {
		t.Fatalf("restore of a replica's backup: %v", err)
	}
	if err := fromReplica.Prepare(ctx, datastore.PrepareSpec{}); err != nil {
		t.Fatal(err)
	}
	if got, want := tableSum(t, fromReplica), tableSum(t, src); got != want {
		t.Fatalf("restored from a replica's backup: %s, the source %s", got, want)
	}
	if standby, err := fromReplica.inRecovery(ctx); err != nil || standby {
		t.Fatalf("restored from a replica's backup: standby %v %v", standby, err)
	}
	if rows, err := src.query(ctx, "postgres", "SELECT slot_name FROM pg_replication_slots WHERE active ORDER BY 1"); err != nil || len(rows) != 2 {
		t.Fatalf("source's active slots %v %v", rows, err)
	}
	for _, r := range reps {
		if ok, st, err := r.Streaming(ctx); err != nil || !ok {
			t.Fatalf("replica at %d: streaming %v %s %v", r.opts.Port, ok, st, err)
		}
		readOnly(r, "a replica")
		if err := r.MakeReadOnly(ctx, false); datastore.KindOf(err) != datastore.KindBadRequest {
			t.Fatalf("make_read_only off on a replica: %v", err)
		}
	}
	// Still a standby following its source after a restart.
	if err := reps[0].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	readOnly(reps[0], "the restarted replica")
	mustExec(t, src, "INSERT INTO t VALUES (2001, 'after restart')")
	caughtUp(src, reps...)

	// Switchover, as the taskmanager's promote: the old source is demoted, the new one catches up with its last
	// LSN and is promoted, the old source and the other replica follow it.
	began = time.Now()
	if err := src.MakeReadOnly(ctx, true); err != nil {
		t.Fatal(err)
	}
	readOnly(src, "the demoted source")
	pos, err := src.LatestTxnID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := reps[0].WaitForTxn(ctx, pos, 30*time.Second); err != nil {
		t.Fatalf("new source did not reach the old one's last LSN: %v", err)
	}
	if err := reps[0].DetachReplica(ctx); err != nil {
		t.Fatal(err)
	}
	newSource, err := reps[0].EnableAsSource(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Manager{src, reps[1]} {
		if err := m.WaitForTxn(ctx, pos, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := m.AttachReplica(ctx, newSource); err != nil {
			t.Fatalf("attach port %d to the new source: %v", m.opts.Port, err)
		}
	}
	if out, err := write(reps[0], 1); err != nil {
		t.Fatalf("write on the new source: %q %v", out, err)
	}
	caughtUp(reps[0], src, reps[1])
	t.Logf("switchover in %s", time.Since(began).Round(time.Millisecond))
	readOnly(src, "the old source following the new one")
	if rows, err := src.query(ctx, "postgres", "SELECT slot_name FROM pg_replication_slots"); err != nil || len(rows) > 1 {
		t.Fatalf("the old source keeps its former replicas' slots: %v %v", rows, err)
	}

	// Detached: writable, and the source's new rows no longer arrive.
	if err := reps[1].DetachReplica(ctx); err != nil {
		t.Fatal(err)
	}
	if err := reps[1].DetachReplica(ctx); err != nil {
		t.Fatalf("detach again: %v", err)
	}
	if out, err := write(reps[1], 2); err != nil {
		t.Fatalf("write on the detached replica: %q %v", out, err)
	}
	mustExec(t, reps[0], "INSERT INTO t VALUES (3000, 'not replicated')")
	caughtUp(reps[0], src)
	if rows, err := reps[1].query(ctx, "app", "SELECT count(*) FROM t WHERE id = 3000"); err != nil || rows[0][0] != "0" {
		t.Fatalf("the detached replica still follows: %v %v", rows, err)
	}
	if rows, err := reps[0].query(ctx, "postgres", "SELECT slot_name FROM pg_replication_slots"); err != nil || len(rows) != 1 || rows[0][0] != src.slotName() {
		t.Fatalf("the new source's slots after the detach: %v %v", rows, err)
	}
	// Values that would need quoting in primary_conninfo or the password file are refused.
	bad := newSource
	bad.Password = "x' host=evil"
	if err := src.AttachReplica(ctx, bad); datastore.KindOf(err) != datastore.KindBadRequest {
		t.Fatalf("attach with a quoting password: %v", err)
	}
	if err := src.WaitForTxn(ctx, "0/1'; DROP", time.Second); datastore.KindOf(err) != datastore.KindBadRequest {
		t.Fatalf("wait for a quoting LSN: %v", err)
	}
}

// A source's WAL retention follows its volume: a small volume keeps little, an unlimited one the maximums.
func TestSourceSettingsFollowVolume(t *testing.T) {
	for size, want := range map[float64]string{0: "512MB 8192MB", 1: "128MB 256MB", 0.25: "64MB 128MB", 100: "512MB 8192MB"} {
		m := &Manager{opts: datastore.Options{Volume: datastore.NewVolume(t.TempDir(), size)}}
		s := m.sourceSettings()
		if got := s["wal_keep_size"] + " " + s["max_slot_wal_keep_size"]; got != want {
			t.Errorf("volume %v GB: %s, want %s", size, got, want)
		}
	}
}
