package catalog_test

import (
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
)

func TestModules(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	ds, v := seedDatastore(t, d)
	mod := func(name, tenantID, dsID string, autoApply, visible bool) catalog.Module {
		return catalog.Module{Name: name, Type: "ping", Contents: "ZW5j", MD5: "md5-1", TenantID: tenantID, DatastoreID: dsID,
			AutoApply: autoApply, Visible: visible, ApplyOrder: 5}
	}
	own, err := d.CreateModule(ctx, mod("own", tenant, "", false, true))
	if err != nil {
		t.Fatal(err)
	}
	global, err := d.CreateModule(ctx, mod("global", "", ds.ID, true, true))
	if err != nil {
		t.Fatal(err)
	}
	hidden, _ := d.CreateModule(ctx, mod("hidden", "", "", false, false))
	if _, err := d.CreateModule(ctx, mod("theirs", "other", "", true, true)); err != nil {
		t.Fatal(err)
	}
	_, err = d.CreateModule(ctx, mod("own", tenant, "", false, true))
	assertKind(t, err, catalog.ErrBadRequest)
	if err.Error() != "A module with the name 'own' already exists for datastore 'all' and datastore version 'all'" {
		t.Fatalf("message %q", err)
	}
	names := func(ms []catalog.Module, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		s := ""
		for _, m := range ms {
			s += m.Name + " "
		}
		return s
	}
	cases := []struct {
		f    catalog.ModuleFilter
		want string
	}{
		{catalog.ModuleFilter{Admin: true}, "global hidden own theirs "},
		{catalog.ModuleFilter{TenantID: tenant, VisibleOnly: true}, "global own "},
		{catalog.ModuleFilter{TenantID: tenant}, "global hidden own "},
		{catalog.ModuleFilter{Admin: true, Datastore: ds.ID}, "global "},
		{catalog.ModuleFilter{Admin: true, Datastore: "all"}, "hidden own theirs "},
		{catalog.ModuleFilter{TenantID: tenant, AutoApply: true, Datastore: ds.ID, VersionID: v.ID}, "global "},
		{catalog.ModuleFilter{TenantID: tenant, IDs: []string{own.ID, hidden.ID}}, "hidden own "},
		{catalog.ModuleFilter{TenantID: tenant, IDs: []string{}}, ""},
	}
	for _, c := range cases {
		if got := names(d.ListModules(ctx, c.f)); got != c.want {
			t.Errorf("%+v: %q, want %q", c.f, got, c.want)
		}
	}
	// Instances created with modules; re-applying with a new md5 replaces the association.
	rows, err := d.CreateInstance(ctx, catalog.CreateInstanceParams{
		Instances: []catalog.Instance{newInstance(v.ID, "db1")}, Defaults: catalog.TroveDefaults,
		Modules: []catalog.ModuleRef{{ModuleID: own.ID, MD5: "md5-1"}, {ModuleID: global.ID, MD5: "md5-1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	in := rows[0]
	if err := d.ApplyModules(ctx, in.ID, []catalog.ModuleRef{{ModuleID: own.ID, MD5: "md5-2"}, {ModuleID: global.ID, MD5: "md5-1"}}); err != nil {
		t.Fatal(err)
	}
	ims, err := d.InstanceModules(ctx, in.ID)
	if err != nil || len(ims) != 2 {
		t.Fatalf("instance modules %+v %v", ims, err)
	}
	if n := counts(t, d, "instance_modules"); n["instance_modules"] != 3 {
		t.Fatalf("rows %v (one replaced row kept soft-deleted)", n)
	}
	if got, _ := d.ModuleInstances(ctx, own.ID, false); len(got) != 1 || got[0].ID != in.ID {
		t.Fatalf("ModuleInstances %+v", got)
	}
	if err := d.RemoveInstanceModule(ctx, in.ID, own.ID); err != nil {
		t.Fatal(err)
	}
	assertKind(t, d.RemoveInstanceModule(ctx, in.ID, own.ID), catalog.ErrNotFound)
	assertKind(t, d.ApplyModules(ctx, in.ID, []catalog.ModuleRef{{ModuleID: "missing", MD5: "x"}}), catalog.ErrNotFound)
	// Update and delete.
	own.Description, own.Visible = "described", false
	if _, err := d.UpdateModule(ctx, own); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.GetModule(ctx, own.ID); got.Description != "described" || got.Visible {
		t.Fatalf("after update %+v", got)
	}
	if err := d.DeleteModule(ctx, own.ID); err != nil {
		t.Fatal(err)
	}
	_, err = d.GetModule(ctx, own.ID)
	assertKind(t, err, catalog.ErrNotFound)
	if _, err := d.CreateModule(ctx, mod("own", tenant, "", false, true)); err != nil { // the name is free again
		t.Fatal(err)
	}
	if err := d.DeleteInstance(ctx, in.ID, 0); err != nil {
		t.Fatal(err)
	}
	if ims, _ := d.InstanceModules(ctx, in.ID); len(ims) != 0 {
		t.Fatalf("modules of a deleted instance %+v", ims)
	}
}
