package catalog_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
)

// Claims: a due schedule goes to exactly one of many claimers; a held lease blocks others until it expires;
// a slot records one backup however many runs ask; the run's end needs the lease and frees the schedule.
func TestBackupScheduleClaims(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	_, v := seedDatastore(t, d)
	in := create(t, d, v.ID, "sched")
	now := time.Now().UTC().Truncate(time.Second)
	s, err := d.CreateBackupSchedule(ctx, catalog.BackupSchedule{TenantID: in.TenantID, InstanceID: in.ID, Name: "nightly",
		BackupType: "full", IntervalSeconds: 3600, KeepCount: 2, NextRunAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateBackupSchedule(ctx, catalog.BackupSchedule{TenantID: in.TenantID, InstanceID: in.ID, Name: "later",
		BackupType: "full", IntervalSeconds: 3600, NextRunAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	for _, owner := range []string{"tm-a", "tm-b", "tm-c", "tm-d"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := d.ClaimDueSchedules(ctx, owner, now, time.Minute, 10)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			for _, g := range got {
				claimed[g.ID+" "+g.LeaseOwner]++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(claimed) != 1 {
		t.Fatalf("claims %v: want the due schedule claimed once", claimed)
	}
	var owner string
	for k := range claimed {
		owner = k[len(s.ID)+1:]
	}
	if got, _ := d.ClaimDueSchedules(ctx, "tm-z", now.Add(30*time.Second), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed while leased: %+v", got)
	}

	// one backup per slot
	a, fresh, err := d.ScheduleRunBackup(ctx, s.ID, now, catalog.NewID())
	if err != nil || !fresh {
		t.Fatal(fresh, err)
	}
	b, fresh, err := d.ScheduleRunBackup(ctx, s.ID, now, catalog.NewID())
	if err != nil || fresh || b != a {
		t.Fatalf("second run of the slot: %s fresh=%t %v, first %s", b, fresh, err, a)
	}

	// the lease expires: another taskmanager takes the schedule over; the first can no longer end the run
	got, err := d.ClaimDueSchedules(ctx, "tm-z", now.Add(2*time.Minute), time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].LeaseOwner != "tm-z" {
		t.Fatalf("take-over: %+v %v", got, err)
	}
	if err := d.ScheduleRunEnd(ctx, s.ID, owner, now, now.Add(time.Hour), a, ""); !errors.Is(err, catalog.ErrConflict) {
		t.Fatalf("run end by the old owner: %v", err)
	}
	if err := d.RenewScheduleLease(ctx, s.ID, owner, now.Add(time.Hour)); !errors.Is(err, catalog.ErrConflict) {
		t.Fatalf("renewal by the old owner: %v", err)
	}
	if err := d.ScheduleRunEnd(ctx, s.ID, "tm-z", now, now.Add(time.Hour), a, "boom"); err != nil {
		t.Fatal(err)
	}
	s, _ = d.GetBackupSchedule(ctx, s.ID)
	if s.LeaseOwner != "" || s.LeaseUntil != nil || !s.NextRunAt.Equal(now.Add(time.Hour)) || s.LastBackupID != a || s.LastError != "boom" {
		t.Fatalf("after the run: %+v", s)
	}
	if got, _ := d.ClaimDueSchedules(ctx, "tm-a", now.Add(2*time.Minute), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed before its next slot: %+v", got)
	}
	if ids, _ := d.ScheduleBackupIDs(ctx, s.ID); len(ids) != 1 || ids[0] != a {
		t.Fatalf("runs %v", ids)
	}
	if ok, err := d.BackupRowExists(ctx, a); ok || err != nil {
		t.Fatal(ok, err)
	}
	// one running backup per instance, however many taskmanagers start one at once
	var started, refused int
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := d.CreateBackupIfIdle(ctx, catalog.Backup{Name: "s", TenantID: in.TenantID, InstanceID: in.ID,
				DatastoreVersionID: v.ID, BackupType: "full"}, catalog.TroveDefaults)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				started++
			case errors.Is(err, catalog.ErrConflict):
				refused++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if started != 1 || refused != 1 {
		t.Fatalf("started %d, refused %d", started, refused)
	}
	if rows, _ := d.ListBackupSchedules(ctx, in.ID); len(rows) != 2 {
		t.Fatalf("list %+v", rows)
	}
	if err := d.DeleteBackupSchedule(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteBackupSchedule(ctx, s.ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatal(err)
	}
}
