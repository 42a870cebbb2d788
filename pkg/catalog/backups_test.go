package catalog_test

import (
	"errors"
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/status"
)

func TestBackups(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	clk := withClock(d)
	_, v := seedDatastore(t, d)
	in := create(t, d, v.ID, "db1")
	def := catalog.TroveDefaults
	def.Backups = 2
	var ids []string
	for _, name := range []string{"b1", "b2"} {
		clk.advance(1e9)
		b, err := d.CreateBackup(ctx, catalog.Backup{Name: name, TenantID: tenant, InstanceID: in.ID, DatastoreVersionID: v.ID, StorageDriver: "swift"}, def)
		if err != nil || b.State != status.BackupNew || len(b.ID) != 36 {
			t.Fatalf("CreateBackup: %+v %v", b, err)
		}
		ids = append(ids, b.ID)
	}
	before := counts(t, d, "backups")
	_, err := d.CreateBackup(ctx, catalog.Backup{Name: "b3", TenantID: tenant, InstanceID: in.ID}, def)
	var qe *catalog.QuotaExceededError
	if !errors.As(err, &qe) || qe.Resources[0] != "backups" {
		t.Fatalf("third backup: %v", err)
	}
	if after := counts(t, d, "backups"); after["backups"] != before["backups"] {
		t.Fatal("over-quota backup written")
	}
	running, err := d.RunningBackups(ctx, []string{in.ID, "other"})
	if err != nil || !running[in.ID] || running["other"] {
		t.Fatalf("RunningBackups %v %v", running, err)
	}
	// update_backup from the conductor.
	state, size, loc, sum := status.BackupCompleted, 1.25, "http://swift/c/o", "abc"
	clk.advance(1e9)
	if err := d.UpdateBackup(ctx, ids[0], catalog.BackupUpdate{State: &state, Size: &size, Location: &loc, Checksum: &sum}); err != nil {
		t.Fatal(err)
	}
	b, err := d.GetBackup(ctx, ids[0])
	if err != nil || b.State != state || b.Size != size || b.Location != loc || b.Checksum != sum || b.Running() {
		t.Fatalf("after update %+v %v", b, err)
	}
	assertKind(t, d.UpdateBackup(ctx, "missing", catalog.BackupUpdate{State: &state}), catalog.ErrNotFound)
	// the content manifest (ours) and the checksum the first passing drill records; a second does not replace it
	manifest := `{"app":["t"]}`
	if err := d.UpdateBackup(ctx, ids[0], catalog.BackupUpdate{ContentManifest: &manifest}); err != nil {
		t.Fatal(err)
	}
	for i, digest := range []string{"d1", "d2"} {
		rec, err := d.RecordContentChecksum(ctx, ids[0], digest, `{"app":{"t":"1"}}`, clk.now())
		if err != nil || rec != (i == 0) {
			t.Fatalf("RecordContentChecksum %s: %v %v", digest, rec, err)
		}
	}
	if b, err := d.GetBackup(ctx, ids[0]); err != nil || b.ContentManifest != manifest || b.ContentChecksum != "d1" ||
		b.ContentTableChecksums != `{"app":{"t":"1"}}` || b.ContentChecksumAt == nil || b.State != state {
		t.Fatalf("content columns %+v %v", b, err)
	}
	// Newest update first; offset marker.
	page, next, err := d.ListBackups(ctx, catalog.BackupFilter{TenantID: tenant, Limit: 1})
	if err != nil || len(page) != 1 || page[0].ID != ids[0] || next != "1" {
		t.Fatalf("page 1: %+v %q %v", page, next, err)
	}
	page, _, _ = d.ListBackups(ctx, catalog.BackupFilter{TenantID: tenant, Limit: 1, Offset: 1})
	if len(page) != 1 || page[0].ID != ids[1] {
		t.Fatalf("page 2: %+v", page)
	}
	if n, err := d.FailRunningBackups(ctx, in.ID); err != nil || n != 1 {
		t.Fatalf("FailRunningBackups %d %v", n, err)
	}
	if err := d.DeleteBackup(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteBackup(ctx, ids[0]); err != nil { // idempotent
		t.Fatal(err)
	}
	_, err = d.GetBackup(ctx, ids[0])
	assertKind(t, err, catalog.ErrNotFound)
	if u, _ := d.Usages(ctx, tenant); u["backups"].InUse != 1 {
		t.Fatalf("backups in use %+v", u["backups"])
	}
	all, _, _ := d.ListBackups(ctx, catalog.BackupFilter{InstanceID: in.ID})
	if len(all) != 1 || all[0].State != status.BackupFailed {
		t.Fatalf("remaining %+v", all)
	}
}

func TestBackupStrategies(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	inst := "1d7f0c1e-0000-4000-8000-000000000001"
	if _, ok, err := d.BackupStrategyFor(ctx, tenant, inst); ok || err != nil {
		t.Fatalf("none yet: %v %v", ok, err)
	}
	if _, err := d.SetBackupStrategy(ctx, tenant, "", "project-container"); err != nil {
		t.Fatal(err)
	}
	s, ok, err := d.BackupStrategyFor(ctx, tenant, inst)
	if err != nil || !ok || s.SwiftContainer != "project-container" || s.InstanceID != "" {
		t.Fatalf("project default: %+v %v %v", s, ok, err)
	}
	if _, err := d.SetBackupStrategy(ctx, tenant, inst, "c1"); err != nil {
		t.Fatal(err)
	}
	s, err = d.SetBackupStrategy(ctx, tenant, inst, "c2") // upsert
	if err != nil || s.Backend != "swift" || s.SwiftContainer != "c2" {
		t.Fatalf("upsert: %+v %v", s, err)
	}
	if s, _, _ := d.BackupStrategyFor(ctx, tenant, inst); s.SwiftContainer != "c2" {
		t.Fatalf("instance strategy not preferred: %+v", s)
	}
	if all, _ := d.ListBackupStrategies(ctx, tenant, ""); len(all) != 2 {
		t.Fatalf("list: %+v", all)
	}
	if err := d.DeleteBackupStrategy(ctx, tenant, inst); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteBackupStrategy(ctx, tenant, inst); err != nil {
		t.Fatal(err)
	}
	if all, _ := d.ListBackupStrategies(ctx, tenant, inst); len(all) != 0 {
		t.Fatalf("after delete: %+v", all)
	}
}
