package catalog_test

import (
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
)

func mysqlVersion(name, number string, active bool) catalog.VersionUpdate {
	return catalog.VersionUpdate{
		Datastore: "mysql", Name: name, Version: number, Manager: "mysql", ImageTags: []string{"trove", "mysql"},
		Packages: "", Active: active, RegistryExt: catalog.DefaultRegistryExt("mysql"),
		ReplStrategy: catalog.DefaultReplStrategy("mysql", "", ""),
	}
}

// seedDatastore creates datastore mysql with an active version 8.0 as default and returns it.
func seedDatastore(t testing.TB, d *catalog.DB) (catalog.Datastore, catalog.DatastoreVersion) {
	t.Helper()
	if _, err := d.UpdateDatastore(ctx, "mysql", ""); err != nil {
		t.Fatal(err)
	}
	v, err := d.UpdateDatastoreVersion(ctx, mysqlVersion("8.0", "", true))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := d.UpdateDatastore(ctx, "mysql", "8.0")
	if err != nil {
		t.Fatal(err)
	}
	return ds, v
}

func TestDatastoreUpdateAndFind(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	if _, err := d.UpdateDatastoreVersion(ctx, mysqlVersion("8.0", "", true)); err == nil {
		t.Fatal("version of a missing datastore accepted")
	} else {
		assertKind(t, err, catalog.ErrNotFound)
	}
	ds, v := seedDatastore(t, d)
	if ds.DefaultVersionID != v.ID || v.Version != "8.0" || v.ImageTags != "trove,mysql" {
		t.Fatalf("datastore %+v version %+v", ds, v)
	}
	// Upsert by (datastore, name, version): same id, values replaced.
	upd := mysqlVersion("8.0", "", false)
	upd.ImageID, upd.ImageTags = "0b5e5f1c-1d9a-4a39-9b8c-3d1b2a6c5e01", nil
	v2, err := d.UpdateDatastoreVersion(ctx, upd)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.GetVersion(ctx, v.ID)
	if err != nil || v2.ID != v.ID || got.Active || got.ImageID != upd.ImageID || got.ImageTags != "" {
		t.Fatalf("after upsert: %+v, %v", got, err)
	}
	if n := counts(t, d, "datastore_versions"); n["datastore_versions"] != 1 {
		t.Fatalf("upsert inserted a row: %v", n)
	}
	long := mysqlVersion("8.0", "", true)
	long.ImageID = "an-image-name-that-is-longer-than-36-characters"
	_, err = d.UpdateDatastoreVersion(ctx, long)
	assertKind(t, err, catalog.ErrBadRequest)
	// An inactive version cannot become the default.
	_, err = d.UpdateDatastore(ctx, "mysql", "8.0")
	assertKind(t, err, catalog.ErrBadRequest)

	// Same name, another version number → a second row and an ambiguous name.
	if _, err := d.UpdateDatastoreVersion(ctx, mysqlVersion("8.0", "8.0.36", true)); err != nil {
		t.Fatal(err)
	}
	_, _, err = d.FindVersion(ctx, "mysql", "8.0")
	assertKind(t, err, catalog.ErrAmbiguous)
	_, fv, err := d.FindVersionNumber(ctx, "mysql", "8.0", "8.0.36")
	if err != nil || fv.Version != "8.0.36" {
		t.Fatalf("FindVersionNumber: %+v %v", fv, err)
	}
	_, byID, err := d.FindVersion(ctx, ds.ID, v.ID)
	if err != nil || byID.ID != v.ID {
		t.Fatalf("FindVersion by ids: %+v %v", byID, err)
	}
	_, dflt, err := d.FindVersion(ctx, "mysql", "")
	if err != nil || dflt.ID != v.ID {
		t.Fatalf("default version: %+v %v", dflt, err)
	}
	for _, c := range []struct{ ds, ver string }{{"nope", "8.0"}, {"mysql", "5.7"}, {"mysql", "5f8a3c55-0000-4000-8000-000000000000"}} {
		_, _, err := d.FindVersion(ctx, c.ds, c.ver)
		assertKind(t, err, catalog.ErrNotFound)
	}
	// Clearing the default.
	ds, err = d.UpdateDatastore(ctx, "mysql", "")
	if err != nil || ds.DefaultVersionID != "" {
		t.Fatalf("clear default: %+v %v", ds, err)
	}
	_, _, err = d.FindVersion(ctx, "mysql", "")
	assertKind(t, err, catalog.ErrNotFound)
	all, err := d.ListVersions(ctx, ds.ID)
	if err != nil || len(all) != 2 {
		t.Fatalf("ListVersions: %d %v", len(all), err)
	}
	dss, err := d.ListDatastores(ctx)
	if err != nil || len(dss) != 1 || dss[0].Name != "mysql" {
		t.Fatalf("ListDatastores: %+v %v", dss, err)
	}
}

func TestVersionFlavors(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	_, v := seedDatastore(t, d)
	if err := d.AddVersionMetadata(ctx, v.ID, catalog.MetadataFlavor, []string{"2", "1"}); err != nil {
		t.Fatal(err)
	}
	fl, err := d.VersionFlavors(ctx, v.ID)
	if err != nil || len(fl) != 2 || fl[0] != "1" || fl[1] != "2" {
		t.Fatalf("flavors %v %v", fl, err)
	}
	// Adding a live pair again is a conflict, and nothing of the batch is written.
	err = d.AddVersionMetadata(ctx, v.ID, catalog.MetadataFlavor, []string{"3", "1"})
	assertKind(t, err, catalog.ErrConflict)
	if n := counts(t, d, "datastore_version_metadata"); n["datastore_version_metadata"] != 2 {
		t.Fatalf("partial batch written: %v", n)
	}
	if err := d.DeleteVersionMetadata(ctx, v.ID, catalog.MetadataFlavor, "1"); err != nil {
		t.Fatal(err)
	}
	assertKind(t, d.DeleteVersionMetadata(ctx, v.ID, catalog.MetadataFlavor, "1"), catalog.ErrNotFound)
	// Re-adding a soft-deleted pair revives the row instead of inserting.
	if err := d.AddVersionMetadata(ctx, v.ID, catalog.MetadataFlavor, []string{"1"}); err != nil {
		t.Fatal(err)
	}
	if n := counts(t, d, "datastore_version_metadata"); n["datastore_version_metadata"] != 2 {
		t.Fatalf("revive inserted: %v", n)
	}
	assertKind(t, d.AddVersionMetadata(ctx, "missing", catalog.MetadataFlavor, []string{"1"}), catalog.ErrNotFound)
	vt, err := d.VersionVolumeTypes(ctx, v.ID)
	if err != nil || len(vt) != 0 {
		t.Fatalf("volume types %v %v", vt, err)
	}
}

func TestConfigParams(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	_, v := seedDatastore(t, d)
	params := []catalog.ConfigParam{
		{Name: "max_connections", DataType: "integer", MaxSize: "100000", MinSize: "1"},
		{Name: "autocommit", DataType: "boolean"},
	}
	if err := d.UpsertConfigParams(ctx, v.ID, params); err != nil {
		t.Fatal(err)
	}
	params[0].RestartRequired, params[0].MaxSize = true, "200"
	if err := d.UpsertConfigParams(ctx, v.ID, params[:1]); err != nil {
		t.Fatal(err)
	}
	if n := counts(t, d, "datastore_configuration_parameters"); n["datastore_configuration_parameters"] != 2 {
		t.Fatalf("rows %v", n)
	}
	p, err := d.ConfigParam(ctx, v.ID, "max_connections")
	if err != nil || !p.RestartRequired || p.MaxSize != "200" || p.MinSize != "1" {
		t.Fatalf("%+v %v", p, err)
	}
	if p, _ := d.ConfigParam(ctx, v.ID, "autocommit"); p.MaxSize != "" || p.DataType != "boolean" {
		t.Fatalf("%+v", p)
	}
	_, err = d.ConfigParam(ctx, v.ID, "nope")
	assertKind(t, err, catalog.ErrNotFound)
	assertKind(t, d.UpsertConfigParams(ctx, "missing", params), catalog.ErrNotFound)
	if n, err := d.DeleteConfigParams(ctx, v.ID); err != nil || n != 2 {
		t.Fatalf("DeleteConfigParams %d %v", n, err)
	}
}

func TestDeleteDatastoreVersion(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	ds, v := seedDatastore(t, d)
	in := create(t, d, v.ID, "db1")
	if err := d.AddVersionMetadata(ctx, v.ID, catalog.MetadataFlavor, []string{"1"}); err != nil {
		t.Fatal(err)
	}
	if err := d.UpsertConfigParams(ctx, v.ID, []catalog.ConfigParam{{Name: "autocommit", DataType: "boolean"}}); err != nil {
		t.Fatal(err)
	}
	err := d.DeleteDatastoreVersion(ctx, v.ID)
	assertKind(t, err, catalog.ErrBadRequest)
	if err.Error() != "Datastore version is in use by instance." {
		t.Fatalf("message %q", err)
	}
	if err := d.DeleteInstance(ctx, in.ID, 0); err != nil {
		t.Fatal(err)
	}
	cfg, err := d.CreateConfiguration(ctx, catalog.Configuration{Name: "c", TenantID: tenant, DatastoreVersionID: v.ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteDatastoreVersion(ctx, v.ID); err == nil || err.Error() != "Datastore version is in use by configuration." {
		t.Fatalf("with a configuration: %v", err)
	}
	if err := d.DeleteConfiguration(ctx, cfg.ID); err != nil {
		t.Fatal(err)
	}
	tables := []string{"datastore_versions", "datastore_version_metadata", "datastore_configuration_parameters"}
	before := counts(t, d, tables...)
	if err := d.DeleteDatastoreVersion(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	after := counts(t, d, tables...)
	for _, tb := range tables {
		if after[tb] != before[tb]-1 {
			t.Errorf("%s: %d → %d rows", tb, before[tb], after[tb])
		}
	}
	if got, _ := d.GetDatastore(ctx, ds.ID); got.DefaultVersionID != "" {
		t.Fatalf("default still set: %+v", got)
	}
	assertKind(t, d.DeleteDatastoreVersion(ctx, v.ID), catalog.ErrNotFound)
}
