package catalog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
)

func TestReplicas(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	clk := withClock(d)
	_, v := seedDatastore(t, d)
	primary := create(t, d, v.ID, "db1")
	other := create(t, d, v.ID, "db2")
	var replicas []string
	for i := 1; i <= 2; i++ {
		clk.advance(time.Second)
		r := newInstance(v.ID, fmt.Sprintf("db1-%d", i))
		r.SlaveOfID = primary.ID
		rows, err := d.CreateInstance(ctx, catalog.CreateInstanceParams{Instances: []catalog.Instance{r}, Defaults: catalog.TroveDefaults})
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, rows[0].ID)
	}
	got, err := d.Replicas(ctx, tenant, []string{primary.ID, other.ID, replicas[0]})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || fmt.Sprint(got[primary.ID]) != fmt.Sprint(replicas) {
		t.Fatalf("Replicas = %v, want %s → %v", got, primary.ID, replicas)
	}
	if all, err := d.Replicas(ctx, "", []string{primary.ID}); err != nil || fmt.Sprint(all) != fmt.Sprint(got) {
		t.Fatalf("any tenant: %v %v", all, err)
	}
	// Another tenant sees none; a detached replica (slave_of_id NULL) is no longer listed.
	if got, err := d.Replicas(ctx, "another-tenant", []string{primary.ID}); err != nil || len(got) != 0 {
		t.Fatalf("another tenant: %v %v", got, err)
	}
	empty := ""
	if err := d.UpdateInstance(ctx, replicas[0], catalog.InstanceUpdate{SlaveOfID: &empty}); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Replicas(ctx, tenant, []string{primary.ID}); err != nil || fmt.Sprint(got[primary.ID]) != fmt.Sprint(replicas[1:]) {
		t.Fatalf("after detach: %v %v", got, err)
	}
	// The failover watcher's sources: the primary while a live replica follows it.
	if ids, err := d.ReplicationSources(ctx); err != nil || fmt.Sprint(ids) != fmt.Sprint([]string{primary.ID}) {
		t.Fatalf("ReplicationSources = %v %v, want [%s]", ids, err, primary.ID)
	}
	if err := d.UpdateInstance(ctx, replicas[1], catalog.InstanceUpdate{SlaveOfID: &empty}); err != nil {
		t.Fatal(err)
	}
	if ids, err := d.ReplicationSources(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("ReplicationSources after both detached = %v %v", ids, err)
	}
}
