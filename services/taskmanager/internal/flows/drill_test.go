package flows

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/catalog"
)

// Restore drills on a real MariaDB guest and a directory store: two Managers polling at once run a due drill
// once; it restores the latest completed backup into a throwaway instance (no quota), records passed
// with the databases the restored guest listed, and deletes the instance and its server. A corrupted object
// records failed with the restore's integrity fault, and again nothing is left behind. An interrupted run's
// throwaway instance is deleted by the next run. The contents: the first passing drill records the restored
// tables' checksum, a later one matches it; a recorded checksum that differs, or a recorded table the restore
// lacks, fails the drill; a backup without a content manifest is drilled without the check.
func TestRestoreDrillWithRealGuest(t *testing.T) {
	e := newGuestEnv(t)
	e.m.Config.StorageStrategy = backupstore.DriverDirectory
	// the clock moves by days while the guests heartbeat in real time
	e.m.Config.HeartbeatExpiry = 1000 * time.Hour
	ctx := context.Background()
	src := e.instanceOf(e.version, "src-drill", catalog.EnvelopeAEAD)
	defer e.dumpGuestLog(src.ID)
	if err := e.m.CreateInstance(ctx, rc, createArgsFor(src, "mariadb-local", "mariadb", "10.11")); err != nil {
		t.Fatalf("create: %v", err)
	}
	src = e.get(src.ID)
	srv, err := e.drv.GetServer(ctx, src.ComputeInstanceID)
	if err != nil {
		t.Fatal(err)
	}
	appSQL(t, "mariadb", srv.Addresses[0].Addr, 3306, "CREATE TABLE t (n INT)")
	appSQL(t, "mariadb", srv.Addresses[0].Addr, 3306, "INSERT INTO t VALUES (1), (2), (3)")

	d, err := e.db.CreateRestoreDrill(ctx, catalog.RestoreDrill{TenantID: src.TenantID, InstanceID: src.ID, IntervalSeconds: 86400,
		NextRunAt: e.clock.now()})
	if err != nil {
		t.Fatal(err)
	}
	// no backup yet: the run says so, nothing is built
	if err := e.m.RunDueDrills(ctx, "tm-a"); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.db.GetRestoreDrill(ctx, d.ID); !strings.Contains(got.LastError, "no completed backup") || got.LeaseOwner != "" {
		t.Fatalf("drill without a backup: %+v", got)
	}
	old := backupNow(t, e, src, "mariadb", "10.11", nil)
	b := backupNow(t, e, src, "mariadb", "10.11", &old) // the latest completed backup: an incremental on old
	usage, err := e.db.Usages(ctx, src.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	drillInstances := func() []catalog.Instance {
		t.Helper()
		rows, _, err := e.db.ListInstancesAllTenants(ctx, catalog.AllTenantsFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var out []catalog.Instance
		for _, in := range rows {
			if in.Type == catalog.InstanceTypeDrill {
				out = append(out, in)
			}
		}
		return out
	}
	nothingLeft := func(what string, want int) {
		t.Helper()
		rows := drillInstances()
		if len(rows) != want {
			t.Fatalf("%s: %d throwaway instances made, want %d", what, len(rows), want)
		}
		for _, in := range rows {
			if !in.Deleted {
				t.Fatalf("%s: throwaway instance %s (%s) not deleted", what, in.ID, in.Name)
			}
			if _, err := e.drv.GetServer(ctx, in.ID); err == nil {
				t.Fatalf("%s: server of throwaway instance %s still there", what, in.ID)
			}
		}
		if got, _ := e.db.Usages(ctx, src.TenantID); got[catalog.ResourceInstances] != usage[catalog.ResourceInstances] ||
			got[catalog.ResourceVolumes] != usage[catalog.ResourceVolumes] || got[catalog.ResourceRAM] != usage[catalog.ResourceRAM] {
			t.Fatalf("%s: quota usage %+v, before the drill %+v", what, got, usage)
		}
	}

	// 1. Two taskmanagers (two Managers on the same catalog, cloud and broker) at once: one drill, passed.
	m2 := New(e.m.Deps)
	t.Cleanup(func() { _ = m2.Stop(context.Background()) })
	e.clock.advance(25 * time.Hour)
	var wg sync.WaitGroup
	for owner, m := range map[string]*Manager{"tm-a": e.m, "tm-b": m2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.RunDueDrills(ctx, owner); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	r, ok, err := e.db.GetDrillResult(ctx, b.ID)
	if err != nil || !ok || r.Result != catalog.DrillPassed || !strings.Contains(r.Message, "appdb") || r.DrillInstanceID == "" {
		t.Fatalf("drill result of the latest backup: %+v %v %v", r, ok, err)
	}
	t.Logf("passed: %s", r.Message)
	// the contents: the manifest the guest recorded at the backup, the checksum the first passing drill recorded
	withContents, err := e.db.GetBackup(ctx, b.ID)
	if err != nil || withContents.ContentManifest != `{"appdb":["t"]}` || len(withContents.ContentChecksum) != 64 ||
		withContents.ContentChecksumAt == nil || !strings.Contains(withContents.ContentTableChecksums, `"t"`) ||
		!strings.Contains(r.Message, "contents checked") || !strings.Contains(r.Message, withContents.ContentChecksum+" recorded") {
		t.Fatalf("contents of the drilled backup: %+v %v (message %q)", withContents, err, r.Message)
	}
	if _, ok, _ := e.db.GetDrillResult(ctx, old.ID); ok {
		t.Fatal("the older backup was drilled too")
	}
	got, _ := e.db.GetRestoreDrill(ctx, d.ID)
	if got.LastResult != catalog.DrillPassed || got.LastBackupID != b.ID || got.LastError != "" || got.LeaseOwner != "" ||
		got.DrillInstanceID != "" || !got.NextRunAt.After(e.clock.now()) {
		t.Fatalf("drill after a passed run: %+v", got)
	}
	nothingLeft("passed drill", 1)
	if rows := drillInstances(); rows[0].Name != "drill-"+b.ID || rows[0].TenantID != src.TenantID {
		t.Fatalf("throwaway instance %s of project %s", rows[0].Name, rows[0].TenantID)
	}

	// 2. The full backup's object is corrupted: the restore of the chain fails, the result says why.
	u, err := url.Parse(old.Location)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(u.Path)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 0xff
	if err := os.WriteFile(u.Path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(25 * time.Hour)
	if err := e.m.RunDueDrills(ctx, "tm-b"); err != nil {
		t.Fatal(err)
	}
	r, ok, err = e.db.GetDrillResult(ctx, b.ID)
	if err != nil || !ok || r.Result != catalog.DrillFailed || !(strings.Contains(r.Message, "checksum") || strings.Contains(r.Message, "corrupt")) {
		t.Fatalf("drill result of a corrupted backup: %+v %v %v", r, ok, err)
	}
	t.Logf("failed: %s", r.Message)
	got, _ = e.db.GetRestoreDrill(ctx, d.ID)
	if got.LastResult != catalog.DrillFailed || got.LastError == "" || got.DrillInstanceID != "" || got.LeaseOwner != "" {
		t.Fatalf("drill after a failed run: %+v", got)
	}
	nothingLeft("failed drill", 2)
	if err := os.WriteFile(u.Path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	// 3. A run interrupted after its throwaway instance was built (the taskmanager died): the next run, once
	// the lease has expired, deletes it before it drills again.
	e.clock.advance(25 * time.Hour)
	if claimed, err := e.db.ClaimDueDrills(ctx, "tm-dead", e.clock.now(), drillLease, 10); err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %+v %v", claimed, err)
	}
	left := e.instanceOf(e.version, "drill-left", catalog.EnvelopeAEAD)
	if err := e.db.SetDrillInstance(ctx, d.ID, "tm-dead", left.ID); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(drillLease + time.Second)
	if err := e.m.RunDueDrills(ctx, "tm-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.GetInstance(ctx, left.ID); err == nil {
		t.Fatal("the interrupted run's throwaway instance is still there")
	}
	if r, _, _ := e.db.GetDrillResult(ctx, b.ID); r.Result != catalog.DrillPassed || !strings.Contains(r.Message, withContents.ContentChecksum+" matches") {
		t.Fatalf("drill after the take-over: %+v", r)
	}
	nothingLeft("after the take-over", 3)

	// 4. The recorded contents say otherwise: a different checksum, then a table the restore lacks, fail the
	// drill; a backup without a manifest (a Python guest's) is drilled without the content check.
	cfg, err := catalog.ParseConnection(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	drillWith := func(what, set string, args ...any) catalog.DrillResult {
		t.Helper()
		if _, err := raw.ExecContext(ctx, "UPDATE backups SET "+set+" WHERE id = ?", append(args, b.ID)...); err != nil {
			t.Fatal(err)
		}
		e.clock.advance(25 * time.Hour)
		if err := e.m.RunDueDrills(ctx, "tm-a"); err != nil {
			t.Fatal(err)
		}
		r, _, _ := e.db.GetDrillResult(ctx, b.ID)
		t.Logf("%s: %s: %s", what, r.Result, r.Message)
		return r
	}
	other := strings.Repeat("0", 64)
	if r := drillWith("another recorded checksum", "content_checksum = ?, content_table_checksums = ?", other, `{"appdb":{"t":"0"}}`); r.Result != catalog.DrillFailed ||
		!strings.Contains(r.Message, "the backup restored to different contents than on "+withContents.ContentChecksumAt.UTC().Format(time.RFC3339)) ||
		!strings.Contains(r.Message, "recorded "+other+"; tables that differ: appdb.t") {
		t.Fatalf("drill against another checksum: %+v", r)
	}
	if r := drillWith("a table the restore lacks", "content_checksum = ?, content_manifest = ?", withContents.ContentChecksum,
		`{"appdb":["gone","t"],"lost":[]}`); r.Result != catalog.DrillFailed || !strings.Contains(r.Message, "lacks 2 of the databases and tables the backup recorded: appdb.gone, lost") {
		t.Fatalf("drill against a manifest naming what is not there: %+v", r)
	}
	if r := drillWith("no manifest", "content_manifest = NULL"); r.Result != catalog.DrillPassed || !strings.Contains(r.Message, "contents not checked") {
		t.Fatalf("drill of a backup without a manifest: %+v", r)
	}
	nothingLeft("after the content checks", 6)

	// the instance goes: its drill goes at the next run
	if err := e.m.DeleteInstance(ctx, rc, src.ID); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(25 * time.Hour)
	if err := e.m.RunDueDrills(ctx, "tm-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.GetRestoreDrill(ctx, d.ID); err == nil {
		t.Fatal("the drill of a deleted instance is still there")
	}
}

// A drill of a PostgreSQL instance's backup passes the same way (the flow is the datastore's create from a
// backup), with its contents checked, and its throwaway instance is gone afterwards.
func TestRestoreDrillPostgreSQLWithRealGuest(t *testing.T) {
	e := newGuestEnv(t)
	e.m.Config.StorageStrategy = backupstore.DriverDirectory
	ctx := context.Background()
	src := e.instanceOf(e.pgVersion, "src-drill-pg", catalog.EnvelopeAEAD)
	defer e.dumpGuestLog(src.ID)
	if err := e.m.CreateInstance(ctx, rc, createArgsFor(src, "postgresql-15-local", "postgresql", "15")); err != nil {
		t.Fatalf("create: %v", err)
	}
	src = e.get(src.ID)
	srv, err := e.drv.GetServer(ctx, src.ComputeInstanceID)
	if err != nil {
		t.Fatal(err)
	}
	appSQL(t, "postgresql", srv.Addresses[0].Addr, 5432, "CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2)")
	b := backupNow(t, e, src, "postgresql", "15", nil)
	d, err := e.db.CreateRestoreDrill(ctx, catalog.RestoreDrill{TenantID: src.TenantID, InstanceID: src.ID, IntervalSeconds: 3600,
		NextRunAt: e.clock.now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.RunDueDrills(ctx, "tm-a"); err != nil {
		t.Fatal(err)
	}
	r, ok, err := e.db.GetDrillResult(ctx, b.ID)
	if err != nil || !ok || r.Result != catalog.DrillPassed || !strings.Contains(r.Message, "appdb") {
		t.Fatalf("drill result: %+v %v %v", r, ok, err)
	}
	// the guest's manifest names the schema-qualified table; the first passing drill recorded the checksum
	if got, err := e.db.GetBackup(ctx, b.ID); err != nil || got.ContentManifest != `{"appdb":["public.t"]}` || len(got.ContentChecksum) != 64 ||
		!strings.Contains(r.Message, got.ContentChecksum+" recorded") {
		t.Fatalf("contents of the drilled backup: %+v %v (message %q)", got, err, r.Message)
	}
	if got, _ := e.db.GetRestoreDrill(ctx, d.ID); got.LastResult != catalog.DrillPassed || got.DrillInstanceID != "" {
		t.Fatalf("drill after the run: %+v", got)
	}
	if in, err := e.db.GetInstanceAny(ctx, r.DrillInstanceID); err != nil || !in.Deleted || in.Type != catalog.InstanceTypeDrill {
		t.Fatalf("throwaway instance: %+v %v", in, err)
	}
	if _, err := e.drv.GetServer(ctx, r.DrillInstanceID); err == nil {
		t.Fatal("the throwaway instance's server is still there")
	}
}
