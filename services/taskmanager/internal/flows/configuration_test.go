package flows

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/status"
)

// A configuration group with the real guest and MariaDB: given at create it is in force from the first start;
// a change of its dynamic value is in force at once (task NONE), of its static one after a restart (task
// RESTART_REQUIRED until then); detached, the dynamic default returns at once, the static one after a restart;
// pushing again is harmless (resume).
func TestUpdateOverridesWithRealGuest(t *testing.T) {
	e := newGuestEnv(t)
	ctx := context.Background()
	if err := e.db.UpsertConfigParams(ctx, e.version.ID, []catalog.ConfigParam{
		{Name: "max_connections", DataType: "integer", MinSize: "10", MaxSize: "100000"},
		{Name: "innodb_log_buffer_size", DataType: "integer", MinSize: "262144", MaxSize: "18446744073709551615", RestartRequired: true},
	}); err != nil {
		t.Fatal(err)
	}
	cfg, err := e.db.CreateConfiguration(ctx, catalog.Configuration{Name: "g", TenantID: "tenant-1", DatastoreVersionID: e.version.ID},
		map[string]string{"max_connections": "321", "innodb_log_buffer_size": "33554432"})
	if err != nil {
		t.Fatal(err)
	}
	in := e.instance("db-overrides", catalog.EnvelopeAEAD)
	id := in.ID
	defer e.dumpGuestLog(id)
	cid := cfg.ID
	if err := e.db.UpdateInstance(ctx, id, catalog.InstanceUpdate{ConfigurationID: &cid}); err != nil {
		t.Fatal(err)
	}
	in.ConfigurationID = cid
	if err := e.m.CreateInstance(ctx, rc, createArgs(in, "mariadb-local")); err != nil {
		t.Fatalf("create: %v", err)
	}
	srv, err := e.drv.GetServer(ctx, e.get(id).ComputeInstanceID)
	if err != nil {
		t.Fatal(err)
	}
	dsn := mysql.NewConfig()
	dsn.User, dsn.Passwd, dsn.Net, dsn.Addr, dsn.Timeout = "root", "root-pw-1", "tcp", srv.Addresses[0].Addr+":3306", 5*time.Second
	db, err := sql.Open("mysql", dsn.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	expect := func(when, want string) {
		t.Helper()
		var got string
		var err error
		for i := 0; i < 100; i++ {
			var a, b string
			if err = db.QueryRow("SELECT @@GLOBAL.max_connections, @@GLOBAL.innodb_log_buffer_size").Scan(&a, &b); err == nil {
				got = a + " " + b
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got != want {
			t.Fatalf("%s: max_connections innodb_log_buffer_size = %q (%v), want %q", when, got, err, want)
		}
	}
	expect("created with the group", "321 33554432")
	push := func(when string, configurationID string, wantTask status.InstanceTask) {
		t.Helper()
		task := status.TaskUpdating
		if err := e.db.UpdateInstance(ctx, id, catalog.InstanceUpdate{Task: &task, ConfigurationID: &configurationID}); err != nil {
			t.Fatal(err)
		}
		if err := e.m.UpdateOverrides(ctx, rc, id); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if got := e.get(id).Task(); got != wantTask {
			f, _ := e.db.GetFault(ctx, id)
			t.Fatalf("%s: task %s, want %s (fault %q %q)", when, got.Action, wantTask.Action, f.Message, f.Details)
		}
	}
	if err := e.db.UpdateConfiguration(ctx, cid, nil, nil, map[string]string{"max_connections": "555"}, false); err != nil {
		t.Fatal(err)
	}
	push("dynamic change", cid, status.TaskNone)
	expect("dynamic change", "555 33554432")
	push("pushed again (resume)", cid, status.TaskNone)
	if err := e.db.UpdateConfiguration(ctx, cid, nil, nil, map[string]string{"innodb_log_buffer_size": "16777216"}, false); err != nil {
		t.Fatal(err)
	}
	push("static change", cid, status.TaskRestartRequired)
	expect("static change before restart", "555 33554432")
	restart := func() {
		t.Helper()
		if err := e.db.SetTask(ctx, id, status.TaskRebooting); err != nil {
			t.Fatal(err)
		}
		if err := e.m.Restart(ctx, rc, id); err != nil {
			t.Fatalf("restart: %v", err)
		}
	}
	restart()
	expect("static change after restart", "555 16777216")
	// detached: the dynamic default at once; the static name waits for a restart (its default happens to be
	// the value in force, which the guest cannot tell without one)
	push("detach", "", status.TaskRestartRequired)
	expect("detached", fmt.Sprint(151)+" 16777216")
	restart()
	expect("detached and restarted", "151 16777216")
	if e.get(id).ConfigurationID != "" {
		t.Fatal("still attached")
	}
}
