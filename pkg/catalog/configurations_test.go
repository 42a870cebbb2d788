package catalog_test

import (
	"fmt"
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
)

func TestConfigurations(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	_, v := seedDatastore(t, d)
	var ids []string
	for i := range 3 {
		c, err := d.CreateConfiguration(ctx, catalog.Configuration{Name: fmt.Sprint("cfg", i), TenantID: tenant, DatastoreVersionID: v.ID},
			map[string]string{"max_connections": "200", "autocommit": "1"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	if _, err := d.CreateConfiguration(ctx, catalog.Configuration{Name: "other", TenantID: "other", DatastoreVersionID: v.ID}, nil); err != nil {
		t.Fatal(err)
	}
	page, next, err := d.ListConfigurations(ctx, tenant, 2, "")
	if err != nil || len(page) != 2 || next != page[1].ID {
		t.Fatalf("page 1 %d %q %v", len(page), next, err)
	}
	page, next, _ = d.ListConfigurations(ctx, tenant, 2, next)
	if len(page) != 1 || next != "" {
		t.Fatalf("page 2 %d %q", len(page), next)
	}
	if all, _, _ := d.ListConfigurations(ctx, "", 0, ""); len(all) != 4 {
		t.Fatalf("all tenants: %d", len(all))
	}
	id := ids[0]
	// PATCH merges, PUT replaces (soft-deleting the old rows, reviving a key given again).
	if err := d.UpdateConfiguration(ctx, id, nil, nil, map[string]string{"max_connections": "300", "wait_timeout": "60"}, false); err != nil {
		t.Fatal(err)
	}
	vals, _ := d.ConfigurationValues(ctx, id)
	if fmt.Sprint(vals) != "map[autocommit:1 max_connections:300 wait_timeout:60]" {
		t.Fatalf("after merge %v", vals)
	}
	name, desc := "renamed", "a group"
	if err := d.UpdateConfiguration(ctx, id, &name, &desc, map[string]string{"autocommit": "0"}, true); err != nil {
		t.Fatal(err)
	}
	vals, _ = d.ConfigurationValues(ctx, id)
	if fmt.Sprint(vals) != "map[autocommit:0]" {
		t.Fatalf("after replace %v", vals)
	}
	var rows int
	d.Sqlx().Get(&rows, "SELECT COUNT(*) FROM configuration_parameters WHERE configuration_id = ?", id)
	if rows != 3 {
		t.Fatalf("%d parameter rows, want 3 (two soft-deleted)", rows)
	}
	c, err := d.GetConfiguration(ctx, id)
	if err != nil || c.Name != name || c.Description != desc {
		t.Fatalf("%+v %v", c, err)
	}
	// Attached instances.
	in := create(t, d, v.ID, "db1")
	if err := d.UpdateInstance(ctx, in.ID, catalog.InstanceUpdate{ConfigurationID: &id}); err != nil {
		t.Fatal(err)
	}
	att, _, err := d.ConfigurationInstances(ctx, id, tenant, 0, "")
	if err != nil || len(att) != 1 || att[0].ID != in.ID {
		t.Fatalf("attached %+v %v", att, err)
	}
	bogus := "no-such-group"
	assertKind(t, d.UpdateInstance(ctx, in.ID, catalog.InstanceUpdate{ConfigurationID: &bogus}), catalog.ErrBadRequest)
	if err := d.DeleteConfiguration(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	_, err = d.GetConfiguration(ctx, ids[1])
	assertKind(t, err, catalog.ErrNotFound)
	assertKind(t, d.DeleteConfiguration(ctx, ids[1]), catalog.ErrNotFound)
	assertKind(t, d.UpdateConfiguration(ctx, ids[1], &name, nil, nil, false), catalog.ErrNotFound)
	if vals, _ := d.ConfigurationValues(ctx, ids[1]); len(vals) != 0 {
		t.Fatalf("deleted group values %v", vals)
	}
}
