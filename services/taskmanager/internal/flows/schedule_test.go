package flows

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/status"
)

// Schedules on a real MariaDB guest, with the clock moved in 5–10 min steps: a full schedule (every 40 min, keep
// 1) and an incremental one (every 10 min from 5 min, keep 2). Two taskmanagers polling at once make each slot's backup
// once.
// Retention deletes nothing while an old chain is still needed by a kept incremental, then, once the kept
// incrementals sit on the second full, deletes the first chain youngest first — objects included — leaving
// F2 ← I5 ← I6, which restores with the rows written before I6.
func TestBackupSchedulesWithRealGuest(t *testing.T) {
	e := newGuestEnv(t)
	e.m.Config.StorageStrategy = backupstore.DriverDirectory
	// the clock moves by minutes while the guest heartbeats in real time: no backup fails for a "silent" guest
	e.m.Config.HeartbeatExpiry = 24 * time.Hour
	ctx := context.Background()
	src := e.instanceOf(e.version, "src-sched", catalog.EnvelopeAEAD)
	defer e.dumpGuestLog(src.ID)
	if err := e.m.CreateInstance(ctx, rc, createArgsFor(src, "mariadb-local", "mariadb", "10.11")); err != nil {
		t.Fatalf("create: %v", err)
	}
	src = e.get(src.ID)
	srv, err := e.drv.GetServer(ctx, src.ComputeInstanceID)
	if err != nil {
		t.Fatal(err)
	}
	q := func(addr, stmt string) string { return appSQL(t, "mariadb", addr, 3306, stmt) }
	addr := srv.Addresses[0].Addr
	q(addr, "CREATE TABLE t (n INT)")

	now := e.clock.now()
	full, err := e.db.CreateBackupSchedule(ctx, catalog.BackupSchedule{TenantID: src.TenantID, InstanceID: src.ID, Name: "weekly",
		BackupType: guestapi.BackupFull, IntervalSeconds: 2400, KeepCount: 1, NextRunAt: now})
	if err != nil {
		t.Fatal(err)
	}
	// incremental slots at 5, 15, 25 … min, full ones at 0 and 40 min: one schedule due per step
	incr, err := e.db.CreateBackupSchedule(ctx, catalog.BackupSchedule{TenantID: src.TenantID, InstanceID: src.ID, Name: "hourly",
		BackupType: guestapi.BackupIncremental, IntervalSeconds: 600, KeepCount: 2, NextRunAt: now.Add(5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}

	// made[i] is the backup of run i: F1 I1 I2 I3 I4 F2 I5 I6
	var made []catalog.Backup
	seen := map[string]bool{}
	tick := func(step int, wantNew ...string) {
		t.Helper()
		q(addr, fmt.Sprintf("INSERT INTO t (n) VALUES (%d)", step))
		var wg sync.WaitGroup
		for _, owner := range []string{"tm-a", "tm-b"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := e.m.RunDueSchedules(ctx, owner); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		var fresh []catalog.Backup
		for _, s := range []catalog.BackupSchedule{full, incr} {
			ids, err := e.db.ScheduleBackupIDs(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				if !seen[id] {
					seen[id] = true
					b, err := e.db.GetBackup(ctx, id)
					if err != nil {
						t.Fatalf("step %d: backup %s of a run: %v", step, id, err)
					}
					fresh = append(fresh, b)
				}
			}
		}
		// a full and an incremental due together run full first
		sort.SliceStable(fresh, func(i, j int) bool {
			return fresh[i].BackupType == guestapi.BackupFull && fresh[j].BackupType != guestapi.BackupFull
		})
		if len(fresh) != len(wantNew) {
			t.Fatalf("step %d: %d new backups, want %v", step, len(fresh), wantNew)
		}
		for i, b := range fresh {
			if b.State != status.BackupCompleted || b.BackupType != wantNew[i] {
				t.Fatalf("step %d: backup %d is %s %s, want a completed %s", step, i, b.State, b.BackupType, wantNew[i])
			}
		}
		made = append(made, fresh...)
		for _, s := range []catalog.BackupSchedule{full, incr} {
			if got, _ := e.db.GetBackupSchedule(ctx, s.ID); got.LastError != "" || got.LeaseOwner != "" {
				t.Fatalf("step %d: schedule %s: error %q, lease %q", step, got.Name, got.LastError, got.LeaseOwner)
			}
		}
	}
	live := func() map[string]catalog.Backup {
		rows, _, err := e.db.ListBackups(ctx, catalog.BackupFilter{InstanceID: src.ID})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]catalog.Backup{}
		for _, b := range rows {
			out[b.ID] = b
		}
		return out
	}
	chainWhole := func(step int) {
		t.Helper()
		l := live()
		for _, b := range l {
			for p := b.ParentID; p != ""; p = l[p].ParentID {
				if _, ok := l[p]; !ok {
					t.Fatalf("step %d: backup %s lost its ancestor %s", step, b.ID, p)
				}
			}
		}
	}

	tick(0, guestapi.BackupFull) // F1
	e.clock.advance(5 * time.Minute)
	tick(1, guestapi.BackupIncremental) // I1 on F1
	if made[1].ParentID != made[0].ID {
		t.Fatalf("I1's parent %s, want F1 %s", made[1].ParentID, made[0].ID)
	}
	for step := 2; step <= 4; step++ { // I2, I3, I4: each on the one before; F1's chain is still needed
		e.clock.advance(10 * time.Minute)
		tick(step, guestapi.BackupIncremental)
		if n := len(made); made[n-1].ParentID != made[n-2].ID {
			t.Fatalf("step %d: parent %s, want %s", step, made[n-1].ParentID, made[n-2].ID)
		}
		chainWhole(step)
		if len(live()) != len(made) {
			t.Fatalf("step %d: retention deleted a backup a kept one needs", step)
		}
	}
	e.clock.advance(5 * time.Minute)
	tick(5, guestapi.BackupFull) // F2 (t = 40 min); keep 1, but F1 is still needed by I4
	e.clock.advance(5 * time.Minute)
	tick(6, guestapi.BackupIncremental) // I5 on F2; I4 (kept) still needs F1's chain
	if made[6].ParentID != made[5].ID {
		t.Fatalf("I5's parent %s, want F2 %s", made[6].ParentID, made[5].ID)
	}
	chainWhole(6)
	if len(live()) != len(made) {
		t.Fatal("step 6: retention deleted a backup a kept one needs")
	}
	e.clock.advance(10 * time.Minute)
	tick(7, guestapi.BackupIncremental)                 // I6 on I5: the first chain is no longer needed
	points := q(addr, "SELECT COUNT(*), SUM(n) FROM t") // tick wrote its row before the backup; none since
	chainWhole(7)
	l := live()
	want := []catalog.Backup{made[5], made[6], made[7]}
	if len(l) != len(want) {
		t.Fatalf("after retention %d backups live, want F2 I5 I6", len(l))
	}
	for _, b := range want {
		if _, ok := l[b.ID]; !ok {
			t.Fatalf("backup %s (%s) deleted", b.ID, b.BackupType)
		}
	}
	for _, b := range made[:5] {
		u, _ := url.Parse(b.Location)
		if _, err := os.Stat(u.Path); !os.IsNotExist(err) {
			t.Fatalf("object of deleted backup %s: %v", b.ID, err)
		}
	}

	in, err := restoreInto(t, e, e.version, "mariadb-local", "mariadb", "10.11", made[7])
	if err != nil {
		t.Fatalf("restore of I6: %v (fault %s)", err, e.fault(in.ID))
	}
	rs, err := e.drv.GetServer(ctx, in.ComputeInstanceID)
	if err != nil {
		t.Fatal(err)
	}
	if got := q(rs.Addresses[0].Addr, "SELECT COUNT(*), SUM(n) FROM t"); got != points {
		t.Fatalf("restored %q, written %q", got, points)
	}

	// the instance goes: its schedules go at their next run
	if err := e.m.DeleteInstance(ctx, rc, in.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.m.DeleteInstance(ctx, rc, src.ID); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(40 * time.Minute)
	if err := e.m.RunDueSchedules(ctx, "tm-a"); err != nil {
		t.Fatal(err)
	}
	if rows, _ := e.db.ListBackupSchedules(ctx, src.ID); len(rows) != 0 {
		t.Fatalf("schedules of a deleted instance: %+v", rows)
	}
}

// A run interrupted after its backup's row was written but before the guest got create_backup: the next
// taskmanager to claim the slot (the lease expired) follows that backup, finds it never left NEW, marks it FAILED
// and records why; the schedule moves on to its next slot and frees the instance for the next backup.
func TestBackupScheduleInterruptedRun(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.m.Config.StorageStrategy = backupstore.DriverDirectory
	ctx := context.Background()
	in := e.instance("sched-stuck", catalog.EnvelopeAEAD)
	slot := e.clock.now().UTC().Truncate(time.Second)
	s, err := e.db.CreateBackupSchedule(ctx, catalog.BackupSchedule{TenantID: in.TenantID, InstanceID: in.ID, Name: "n",
		BackupType: guestapi.BackupFull, IntervalSeconds: 3600, NextRunAt: slot})
	if err != nil {
		t.Fatal(err)
	}
	// the dead taskmanager's half of the run: its claim, the slot's backup id, the NEW row
	if got, err := e.db.ClaimDueSchedules(ctx, "tm-dead", e.clock.now(), scheduleLease, 10); err != nil || len(got) != 1 {
		t.Fatalf("claim: %+v %v", got, err)
	}
	id, _, err := e.db.ScheduleRunBackup(ctx, s.ID, slot, catalog.NewID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateBackupIfIdle(ctx, catalog.Backup{ID: id, Name: "n", TenantID: in.TenantID, InstanceID: in.ID,
		DatastoreVersionID: in.DatastoreVersionID, StorageDriver: backupstore.DriverDirectory, BackupType: guestapi.BackupFull}, catalog.TroveDefaults); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(scheduleLease + 2*e.m.Config.AgentCallHigh + time.Second)
	if err := e.m.RunDueSchedules(ctx, "tm-b"); err != nil {
		t.Fatal(err)
	}
	b, err := e.db.GetBackup(ctx, id)
	if err != nil || b.State != status.BackupFailed {
		t.Fatalf("the interrupted run's backup: %+v %v", b, err)
	}
	got, _ := e.db.GetBackupSchedule(ctx, s.ID)
	if got.LastBackupID != id || got.LeaseOwner != "" || !got.NextRunAt.After(slot) ||
		!strings.Contains(got.LastError, "never reached the guest") {
		t.Fatalf("schedule after the take-over: %+v", got)
	}
}

// Retention by age, on catalog rows alone: keep_days keeps what is younger; an old backup stays while a backup
// made by hand (not the schedule's) descends from it, and goes once that child is gone.
func TestBackupRetentionByAge(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.db.Now = e.clock.now // backups' created times follow the test's clock
	ctx := context.Background()
	in := e.instance("retain", catalog.EnvelopeAEAD)
	s, err := e.db.CreateBackupSchedule(ctx, catalog.BackupSchedule{TenantID: in.TenantID, InstanceID: in.ID, Name: "daily",
		BackupType: guestapi.BackupIncremental, IntervalSeconds: 86400, KeepDays: 2})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(slot time.Time, parent string) catalog.Backup {
		t.Helper()
		typ := guestapi.BackupFull
		if parent != "" {
			typ = guestapi.BackupIncremental
		}
		b, err := e.db.CreateBackup(ctx, catalog.Backup{Name: "b", TenantID: in.TenantID, InstanceID: in.ID, State: status.BackupCompleted,
			DatastoreVersionID: in.DatastoreVersionID, BackupType: typ, ParentID: parent}, catalog.TroveDefaults)
		if err != nil {
			t.Fatal(err)
		}
		if !slot.IsZero() {
			if _, _, err := e.db.ScheduleRunBackup(ctx, s.ID, slot, b.ID); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	t0 := e.clock.now()
	full := mk(t0, "")                         // the schedule's, soon old
	manual := mk(time.Time{}, full.ID)         // by hand, on it
	young := mk(t0.Add(time.Second), "")       // the schedule's, a full one
	e.clock.advance(3 * 24 * time.Hour)        // everything is 3 days old now
	fresh := mk(t0.Add(time.Minute), young.ID) // created now: young, and it needs young
	ids := func() map[string]bool {
		rows, _, err := e.db.ListBackups(ctx, catalog.BackupFilter{InstanceID: in.ID})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, b := range rows {
			out[b.ID] = true
		}
		return out
	}
	if err := e.m.applyRetention(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	got := ids()
	if !got[full.ID] || !got[manual.ID] {
		t.Fatalf("the old full a manual backup needs was deleted: %v", got)
	}
	if !got[young.ID] || !got[fresh.ID] {
		t.Fatalf("a needed or young backup was deleted: %v", got)
	}
	if err := e.db.DeleteBackup(ctx, manual.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.m.applyRetention(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	if got := ids(); got[full.ID] || !got[young.ID] || !got[fresh.ID] {
		t.Fatalf("after the manual backup went: %v (full %s should be gone)", got, full.ID)
	}
}
