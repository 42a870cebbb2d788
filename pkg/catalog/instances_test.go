package catalog_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/status"
)

const tenant = "6e1c9a7e8f2b4f7e9c1d2a3b4c5d6e7f"

func newInstance(versionID, name string) catalog.Instance {
	return catalog.Instance{
		Name: name, TenantID: tenant, FlavorID: "2", VolumeSize: 5, DatastoreVersionID: versionID,
		RegionID: "RegionOne", EncryptedKey: "wrapped-key", Access: `{"is_public": false}`,
	}
}

func create(t testing.TB, d *catalog.DB, versionID, name string) catalog.Instance {
	t.Helper()
	rows, err := d.CreateInstance(ctx, catalog.CreateInstanceParams{
		Instances: []catalog.Instance{newInstance(versionID, name)},
		Deltas:    map[string]int{catalog.ResourceInstances: 1, catalog.ResourceVolumes: 5, catalog.ResourceRAM: 2048},
		Defaults:  catalog.TroveDefaults,
	})
	if err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	return rows[0]
}

func usage(t testing.TB, d *catalog.DB) map[string]int {
	t.Helper()
	u, err := d.Usages(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for r, v := range u {
		out[r] = v.InUse
		if v.Reserved != 0 {
			t.Errorf("%s reserved = %d", r, v.Reserved)
		}
	}
	return out
}

var instanceTables = []string{"instances", "service_statuses", "quota_usages", "reservations"}

func TestCreateInstance(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	clk := withClock(d)
	_, v := seedDatastore(t, d)
	in := create(t, d, v.ID, "db1")
	if len(in.ID) != 36 || in.Created != clk.t || in.TaskID != status.TaskBuilding.Code {
		t.Fatalf("created %+v", in)
	}
	got, err := d.GetInstance(ctx, in.ID)
	if err != nil || got != in {
		t.Fatalf("GetInstance = %+v, %v\nwant %+v", got, err, in)
	}
	if got.Task() != status.TaskBuilding {
		t.Fatalf("task %+v", got.Task())
	}
	st, err := d.GetServiceStatus(ctx, in.ID)
	if err != nil || st.Status() != status.New || st.UpdatedAt == nil || !st.UpdatedAt.Equal(clk.t) {
		t.Fatalf("service status %+v %v", st, err)
	}
	if n := counts(t, d, instanceTables...); n["instances"] != 1 || n["service_statuses"] != 1 || n["quota_usages"] != 3 || n["reservations"] != 3 {
		t.Fatalf("rows %v", n)
	}
	if u := usage(t, d); u["instances"] != 1 || u["volumes"] != 5 || u["ram"] != 2048 {
		t.Fatalf("usage %v", u)
	}
	// Every column we write is NOT NULL where Trove reads it; the optional ones are NULL, not ''.
	var nulls struct {
		Config, Slave, Cluster, Compute *string
	}
	if err := d.Sqlx().QueryRow("SELECT configuration_id, slave_of_id, cluster_id, compute_instance_id FROM instances WHERE id = ?", in.ID).
		Scan(&nulls.Config, &nulls.Slave, &nulls.Cluster, &nulls.Compute); err != nil {
		t.Fatal(err)
	}
	if nulls.Config != nil || nulls.Slave != nil || nulls.Cluster != nil || nulls.Compute != nil {
		t.Fatalf("optional columns not NULL: %+v", nulls)
	}
	_, err = d.GetInstance(ctx, "no-such-instance")
	assertKind(t, err, catalog.ErrNotFound)

	// A missing datastore version is a bad request and writes nothing.
	before := counts(t, d, instanceTables...)
	_, err = d.CreateInstance(ctx, catalog.CreateInstanceParams{Instances: []catalog.Instance{newInstance("missing", "x")}, Defaults: catalog.TroveDefaults})
	assertKind(t, err, catalog.ErrBadRequest)
	if after := counts(t, d, instanceTables...); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("rows changed: %v → %v", before, after)
	}
}

func TestCreateInstanceOverQuota(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	_, v := seedDatastore(t, d)
	if err := d.SetQuota(ctx, tenant, catalog.ResourceVolumes, 7); err != nil {
		t.Fatal(err)
	}
	if err := d.SetQuota(ctx, tenant, catalog.ResourceRAM, 1024); err != nil {
		t.Fatal(err)
	}
	before := counts(t, d, instanceTables...)
	_, err := d.CreateInstance(ctx, catalog.CreateInstanceParams{
		Instances: []catalog.Instance{newInstance(v.ID, "a"), newInstance(v.ID, "b")},
		Deltas:    map[string]int{"instances": 2, "volumes": 10, "ram": 4096},
		Defaults:  catalog.TroveDefaults,
	})
	var qe *catalog.QuotaExceededError
	if !errors.As(err, &qe) || fmt.Sprint(qe.Resources) != "[ram volumes]" {
		t.Fatalf("err = %v", err)
	}
	if err.Error() != "Quota exceeded for resources: ['ram', 'volumes']." {
		t.Fatalf("message %q", err.Error())
	}
	after := counts(t, d, instanceTables...)
	after["quota_usages"] = before["quota_usages"] // usage rows are created lazily (0/0) before the check
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("rows changed: %v → %v", before, after)
	}
	if u := usage(t, d); u["instances"] != 0 || u["volumes"] != 0 {
		t.Fatalf("usage %v", u)
	}
}

// N parallel creates against a limit of 5 instances: exactly 5 succeed, usage ends at 5.
func TestCreateInstanceConcurrentQuota(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	_, v := seedDatastore(t, d)
	if err := d.SetQuota(ctx, tenant, catalog.ResourceInstances, 5); err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = d.CreateInstance(ctx, catalog.CreateInstanceParams{
				Instances: []catalog.Instance{newInstance(v.ID, fmt.Sprint("db", i))},
				Deltas:    map[string]int{"instances": 1, "volumes": 5},
				Defaults:  catalog.TroveDefaults,
			})
		}()
	}
	wg.Wait()
	ok, over := 0, 0
	for _, err := range errs {
		var qe *catalog.QuotaExceededError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &qe):
			over++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 5 || over != n-5 {
		t.Fatalf("%d created, %d over quota", ok, over)
	}
	if c := counts(t, d, "instances"); c["instances"] != 5 {
		t.Fatalf("%d instance rows", c["instances"])
	}
	if u := usage(t, d); u["instances"] != 5 || u["volumes"] != 25 {
		t.Fatalf("usage %v", u)
	}
}

func TestUpdateInstance(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	clk := withClock(d)
	_, v := seedDatastore(t, d)
	in := create(t, d, v.ID, "db1")
	clk.advance(61e9)
	if err := d.RenameInstance(ctx, in.ID, "renamed"); err != nil {
		t.Fatal(err)
	}
	if err := d.SetServer(ctx, in.ID, "11111111-2222-4333-8444-555555555555", "66666666-7777-4888-9999-000000000000"); err != nil {
		t.Fatal(err)
	}
	if err := d.SetVolumeSize(ctx, in.ID, 8); err != nil {
		t.Fatal(err)
	}
	if err := d.SetEncryptedKey(ctx, in.ID, "rotated"); err != nil {
		t.Fatal(err)
	}
	swapped, err := d.SetTaskIf(ctx, in.ID, status.TaskBuilding, status.TaskNone)
	if err != nil || !swapped {
		t.Fatalf("SetTaskIf BUILDING→NONE = %v %v", swapped, err)
	}
	swapped, err = d.SetTaskIf(ctx, in.ID, status.TaskBuilding, status.TaskBuildingErrorServer)
	if err != nil || swapped {
		t.Fatalf("second SetTaskIf = %v %v", swapped, err)
	}
	got, err := d.GetInstance(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "renamed" || got.ComputeInstanceID != "11111111-2222-4333-8444-555555555555" || got.VolumeSize != 8 ||
		got.EncryptedKey != "rotated" || got.Task() != status.TaskNone || got.TaskDescription != "No tasks for the instance." ||
		!got.Updated.Equal(clk.t) || !got.Created.Equal(in.Created) {
		t.Fatalf("after updates %+v", got)
	}
	assertKind(t, d.SetTask(ctx, "missing", status.TaskNone), catalog.ErrNotFound)
	_, err = d.SetTaskIf(ctx, "missing", status.TaskNone, status.TaskDeleting)
	assertKind(t, err, catalog.ErrNotFound)
	// Setting the same value again is not "not found".
	if err := d.RenameInstance(ctx, in.ID, "renamed"); err != nil {
		t.Fatal(err)
	}
	list, err := d.InstancesWithTask(ctx, status.TaskNone, status.TaskDeleting)
	if err != nil || len(list) != 1 {
		t.Fatalf("InstancesWithTask %v %v", len(list), err)
	}
}

func TestDeleteInstance(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	_, v := seedDatastore(t, d)
	in := create(t, d, v.ID, "db1")
	keep := create(t, d, v.ID, "db2")
	if err := d.SaveFault(ctx, in.ID, "boom", "trace"); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteInstance(ctx, in.ID, 2048); err != nil {
		t.Fatal(err)
	}
	_, err := d.GetInstance(ctx, in.ID)
	assertKind(t, err, catalog.ErrNotFound)
	gone, err := d.GetInstanceAny(ctx, in.ID)
	if err != nil || !gone.Deleted || gone.DeletedAt == nil || gone.DatastoreVersionID != "" || gone.Task() != status.TaskNone {
		t.Fatalf("deleted row %+v %v", gone, err)
	}
	if key, err := d.EncryptedKey(ctx, in.ID); err != nil || key != "wrapped-key" {
		t.Fatalf("EncryptedKey of a deleted instance = %q %v", key, err)
	}
	st, _ := d.GetServiceStatus(ctx, in.ID)
	if st.Status() != status.Deleted {
		t.Fatalf("status %+v", st)
	}
	_, err = d.GetFault(ctx, in.ID)
	assertKind(t, err, catalog.ErrNotFound)
	if u := usage(t, d); u["instances"] != 1 || u["volumes"] != 5 || u["ram"] != 2048 {
		t.Fatalf("usage after delete %v", u)
	}
	// Idempotent: a second delete releases nothing.
	if err := d.DeleteInstance(ctx, in.ID, 2048); err != nil {
		t.Fatal(err)
	}
	if u := usage(t, d); u["instances"] != 1 {
		t.Fatalf("usage after second delete %v", u)
	}
	if _, err := d.GetInstance(ctx, keep.ID); err != nil {
		t.Fatal(err)
	}
	assertKind(t, d.DeleteInstance(ctx, "missing", 0), catalog.ErrNotFound)
}

func TestListInstancesPagination(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	_, v := seedDatastore(t, d)
	if err := d.SetQuota(ctx, tenant, "instances", -1); err != nil {
		t.Fatal(err)
	}
	if err := d.SetQuota(ctx, tenant, "volumes", -1); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 25 {
		ids = append(ids, create(t, d, v.ID, fmt.Sprint("db", i)).ID)
	}
	// Other tenants' and clustered instances are not listed.
	other := newInstance(v.ID, "other")
	other.TenantID = "other"
	if _, err := d.CreateInstance(ctx, catalog.CreateInstanceParams{Instances: []catalog.Instance{other}, Defaults: catalog.TroveDefaults}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	marker, pages := "", 0
	for {
		rows, next, err := d.ListInstances(ctx, tenant, false, 10, marker)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range rows {
			seen = append(seen, r.ID)
		}
		if next == "" {
			break
		}
		if next != rows[len(rows)-1].ID {
			t.Fatalf("next %s is not the last id of the page", next)
		}
		marker = next
	}
	if pages != 3 || len(seen) != 25 {
		t.Fatalf("%d pages, %d rows", pages, len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i-1] >= seen[i] {
			t.Fatal("not ordered by id")
		}
	}
	// An exactly full last page has no next marker.
	rows, next, err := d.ListInstances(ctx, tenant, false, 25, "")
	if err != nil || len(rows) != 25 || next != "" {
		t.Fatalf("full page: %d %q %v", len(rows), next, err)
	}
	all, next, err := d.ListInstances(ctx, tenant, true, 0, "")
	if err != nil || len(all) != 25 || next != "" {
		t.Fatalf("unlimited: %d %q %v", len(all), next, err)
	}
	if err := d.DeleteInstance(ctx, ids[0], 0); err != nil {
		t.Fatal(err)
	}
	rows, _, _ = d.ListInstances(ctx, tenant, false, 0, "")
	if len(rows) != 24 {
		t.Fatalf("deleted instance listed: %d", len(rows))
	}
	yes, no := true, false
	mg, next, err := d.ListInstancesAllTenants(ctx, catalog.AllTenantsFilter{Deleted: &no, Limit: 20})
	if err != nil || len(mg) != 20 || next != "20" {
		t.Fatalf("mgmt page 1: %d %q %v", len(mg), next, err)
	}
	mg, next, _ = d.ListInstancesAllTenants(ctx, catalog.AllTenantsFilter{Deleted: &no, Limit: 20, Offset: 20})
	if len(mg) != 5 || next != "" {
		t.Fatalf("mgmt page 2: %d %q", len(mg), next)
	}
	mg, _, _ = d.ListInstancesAllTenants(ctx, catalog.AllTenantsFilter{Deleted: &yes})
	if len(mg) != 1 || mg[0].ID != ids[0] {
		t.Fatalf("mgmt deleted: %+v", mg)
	}
	st, err := d.ServiceStatuses(ctx, ids)
	if err != nil || len(st) != 25 || st[ids[3]].Status() != status.New {
		t.Fatalf("bulk statuses: %d %v", len(st), err)
	}

	// The one-query list agrees with ListInstances + ServiceStatuses + RunningBackups, page by page.
	if _, err := d.CreateBackup(ctx, catalog.Backup{Name: "b", TenantID: tenant, InstanceID: ids[5]}, catalog.TroveDefaults); err != nil {
		t.Fatal(err)
	}
	if err := d.SetServiceStatus(ctx, ids[7], status.Healthy); err != nil {
		t.Fatal(err)
	}
	marker, pages = "", 0
	for {
		want, wantNext, err := d.ListInstances(ctx, tenant, false, 7, marker)
		if err != nil {
			t.Fatal(err)
		}
		got, next, err := d.ListInstancesWithStatus(ctx, tenant, false, 7, marker)
		if err != nil {
			t.Fatal(err)
		}
		if next != wantNext || len(got) != len(want) {
			t.Fatalf("page %d: %d rows next %q, want %d rows next %q", pages, len(got), next, len(want), wantNext)
		}
		for i := range got {
			wantSt := st[want[i].ID]
			// The list reads the columns the views show: no key (only whether there is one), no deletion or
			// SSL columns.
			shown := want[i]
			shown.EncryptedKey, shown.Deleted, shown.DeletedAt, shown.Type, shown.SSLMode, shown.SSLRef = "", false, nil, "", "", ""
			if got[i].Instance != shown || got[i].KeySet != (want[i].EncryptedKey != "") || got[i].Status == nil || got[i].Status.ID != wantSt.ID ||
				got[i].BackupRunning != (want[i].ID == ids[5]) {
				t.Fatalf("row %s: %+v", want[i].ID, got[i])
			}
			if want[i].ID == ids[7] && got[i].Status.Status() != status.Healthy {
				t.Fatalf("status of %s: %+v", ids[7], got[i].Status)
			}
		}
		pages++
		if next == "" {
			break
		}
		marker = next
	}
	if pages != 4 {
		t.Fatalf("%d pages of 7 for 24 instances", pages)
	}
}

// BenchmarkListInstances lists pages of 20 (the API default) and 1,000 instances with their statuses and backup
// flags: ListInstances + ServiceStatuses + RunningBackups, then the one-query ListInstancesWithStatus.
func BenchmarkListInstances(b *testing.B) {
	d := seedThousand(b)
	for _, page := range []int{20, 1000} {
		b.Run(fmt.Sprintf("three-queries/page=%d", page), func(b *testing.B) {
			for b.Loop() {
				rows, _, err := d.ListInstances(ctx, tenant, false, page, "")
				if err != nil || len(rows) != page {
					b.Fatal(len(rows), err)
				}
				ids := make([]string, len(rows))
				for i, r := range rows {
					ids[i] = r.ID
				}
				if _, err := d.ServiceStatuses(ctx, ids); err != nil {
					b.Fatal(err)
				}
				if _, err := d.RunningBackups(ctx, ids); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("one-query/page=%d", page), func(b *testing.B) {
			for b.Loop() {
				rows, _, err := d.ListInstancesWithStatus(ctx, tenant, false, page, "")
				if err != nil || len(rows) != page {
					b.Fatal(len(rows), err)
				}
			}
		})
	}
}

func seedThousand(b *testing.B) *catalog.DB {
	d := newDB(b)
	_, v := seedDatastore(b, d)
	for _, r := range []string{"instances", "volumes"} {
		if err := d.SetQuota(ctx, tenant, r, -1); err != nil {
			b.Fatal(err)
		}
	}
	batch := make([]catalog.Instance, 0, 1000)
	for i := range 1000 {
		batch = append(batch, newInstance(v.ID, fmt.Sprint("db", i)))
	}
	if _, err := d.CreateInstance(ctx, catalog.CreateInstanceParams{Instances: batch, Deltas: map[string]int{"instances": 1000}, Defaults: catalog.TroveDefaults}); err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkCreateInstance creates one instance with its quota check (locked usage rows) per iteration.
func BenchmarkCreateInstance(b *testing.B) {
	d := newDB(b)
	_, v := seedDatastore(b, d)
	for _, r := range []string{"instances", "volumes"} {
		if err := d.SetQuota(ctx, tenant, r, -1); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		create(b, d, v.ID, "db")
	}
}
