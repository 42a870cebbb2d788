package catalog_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
)

// Restore drills: one per instance (a second is ErrConflict); a due drill goes to exactly one of many
// claimers; the throwaway instance is recorded under the lease only; the run's end frees the lease; a drill
// result replaces the backup's earlier one; a drill's throwaway instance takes and releases no quota.
func TestRestoreDrillClaims(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	_, v := seedDatastore(t, d)
	in := create(t, d, v.ID, "drilled")
	now := time.Now().UTC().Truncate(time.Second)
	r, err := d.CreateRestoreDrill(ctx, catalog.RestoreDrill{TenantID: in.TenantID, InstanceID: in.ID, IntervalSeconds: 3600, NextRunAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateRestoreDrill(ctx, catalog.RestoreDrill{TenantID: in.TenantID, InstanceID: in.ID, IntervalSeconds: 60}); !errors.Is(err, catalog.ErrConflict) {
		t.Fatalf("second drill of an instance: %v", err)
	}
	var mu sync.Mutex
	var got []catalog.RestoreDrill
	var wg sync.WaitGroup
	for _, owner := range []string{"tm-a", "tm-b", "tm-c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.ClaimDueDrills(ctx, owner, now, time.Minute, 10)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			got = append(got, c...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(got) != 1 || got[0].ID != r.ID {
		t.Fatalf("claims %+v: want the drill claimed once", got)
	}
	owner := got[0].LeaseOwner
	if err := d.SetDrillInstance(ctx, r.ID, "tm-other", "x"); !errors.Is(err, catalog.ErrConflict) {
		t.Fatalf("recording a throwaway instance without the lease: %v", err)
	}
	if err := d.RenewDrillLease(ctx, r.ID, owner, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := d.DrillRunEnd(ctx, r.ID, owner, now, now.Add(time.Hour), "b-1", catalog.DrillPassed, ""); err != nil {
		t.Fatal(err)
	}
	if err := d.DrillRunEnd(ctx, r.ID, owner, now, now.Add(time.Hour), "b-1", catalog.DrillPassed, ""); !errors.Is(err, catalog.ErrConflict) {
		t.Fatalf("ending a run twice: %v", err)
	}
	s, _ := d.GetRestoreDrill(ctx, r.ID)
	if s.LeaseOwner != "" || s.LastResult != catalog.DrillPassed || s.LastBackupID != "b-1" || !s.NextRunAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("after the run: %+v", s)
	}
	for _, res := range []string{catalog.DrillFailed, catalog.DrillPassed} {
		if err := d.RecordDrillResult(ctx, catalog.DrillResult{BackupID: "b-1", DrillID: r.ID, Result: res, DrilledAt: now, Message: res}); err != nil {
			t.Fatal(err)
		}
	}
	if res, ok, err := d.GetDrillResult(ctx, "b-1"); err != nil || !ok || res.Result != catalog.DrillPassed || res.Message != catalog.DrillPassed {
		t.Fatalf("drill result: %+v %v %v", res, ok, err)
	}
	if _, ok, err := d.GetDrillResult(ctx, "b-2"); err != nil || ok {
		t.Fatalf("never drilled: %v %v", ok, err)
	}

	before, err := d.Usages(ctx, in.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := d.CreateInstance(ctx, catalog.CreateInstanceParams{Instances: []catalog.Instance{{Name: "drill-b-1", TenantID: in.TenantID,
		FlavorID: "1", VolumeSize: 5, DatastoreVersionID: v.ID, Type: catalog.InstanceTypeDrill}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteInstance(ctx, rows[0].ID, 512); err != nil {
		t.Fatal(err)
	}
	if after, _ := d.Usages(ctx, in.TenantID); after[catalog.ResourceInstances] != before[catalog.ResourceInstances] ||
		after[catalog.ResourceVolumes] != before[catalog.ResourceVolumes] || after[catalog.ResourceRAM] != before[catalog.ResourceRAM] {
		t.Fatalf("quota after a drill instance: %+v, before %+v", after, before)
	}
	if err := d.DeleteRestoreDrill(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteRestoreDrill(ctx, r.ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("deleting again: %v", err)
	}
}
