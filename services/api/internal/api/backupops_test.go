package api

import (
	"context"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

func (m *recordingTM) CreateBackup(_ context.Context, rc rpc.Context, a taskapi.CreateBackupArgs) error {
	return m.record(taskapi.MethodCreateBackup, rc, a)
}
func (m *recordingTM) DeleteBackup(_ context.Context, rc rpc.Context, a taskapi.DeleteBackupArgs) error {
	return m.record(taskapi.MethodDeleteBackup, rc, a)
}

// lastCall is the double's newest cast of method.
func (m *recordingTM) lastCall(t *testing.T, method string) taskCall {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.calls) - 1; i >= 0; i-- {
		if m.calls[i].Method == method {
			return m.calls[i]
		}
	}
	t.Fatalf("no %s cast among %d", method, len(m.calls))
	return taskCall{}
}

// completeBackup plays the guest and conductor: the backup is COMPLETED at a location.
func (e *env) completeBackup(id string) {
	e.t.Helper()
	done, loc, sum := status.BackupCompleted, "file:///backups/"+id+".xbstream.gz", "0123456789abcdef0123456789abcdef"
	if err := e.db.UpdateBackup(context.Background(), id, catalog.BackupUpdate{State: &done, Location: &loc, Checksum: &sum}); err != nil {
		e.t.Fatal(err)
	}
}

func TestCreateBackup(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.StorageStrategy, c.BackupSwiftContainer = "swift", "database_backups" })
	id := e.createInstance("demo", "bk")
	p := "/v1.0/" + projDemo + "/backups"

	// Building: Trove's 422.
	r := e.do("demo", "POST", p, `{"backup": {"name": "b0", "instance": "`+id+`"}}`)
	if r.Code != 422 || !strings.Contains(r.faultMessage(), "is not currently available for an action to be performed") {
		t.Fatalf("backup while building: %d %s", r.Code, r.Raw)
	}
	e.markActive(id)
	other := e.createInstance("demo2", "theirs")
	e.markActive(other)
	bad := []struct {
		token, body string
		code        int
	}{
		{"demo", `{"backup": {"instance": "` + id + `"}}`, 400},                                   // no name
		{"demo", `{"backup": {"name": "b"}}`, 400},                                                // instance is missing.
		{"demo", `{"backup": {"name": "b", "instance": "` + id + `", "incremental": true}}`, 400}, // BOOLINT
		{"demo", `{"backup": {"name": "b", "instance": "` + id + `", "incremental": 2}}`, 400},
		{"demo", `{"backup": {"name": "b", "instance": "` + id + `", "swift_container": "a b;rm"}}`, 400},
		{"demo", `{"backup": {"name": "b", "instance": "not-a-uuid"}}`, 400},
		{"demo", `{"backup": {"name": "b", "instance": "` + other + `"}}`, 404}, // another project's instance
		{"reader", `{"backup": {"name": "b", "instance": "` + id + `"}}`, 403},
		{"demo", `{"backup": {"name": "b", "instance": "` + id + `", "parent_id": "00000000-0000-0000-0000-000000000000"}}`, 404},
		{"demo", `{"backup": {"name": "b", "instance": "` + id + `", "restore_from": {"remote_location": "x", "local_datastore_version_id": "00000000-0000-0000-0000-000000000000", "size": 1}}}`, 501},
	}
	for _, c := range bad {
		if r := e.do(c.token, "POST", p, c.body); r.Code != c.code {
			t.Errorf("%s %s: %d %s", c.token, c.body, r.Code, r.Raw)
		}
	}
	if n := e.count("SELECT COUNT(*) FROM backups"); n != 0 {
		t.Fatalf("refused requests wrote %d backups", n)
	}

	// A full backup: 202, NEW, one quota, create_backup cast with backup_info and the caller's token.
	r = e.do("demo", "POST", p, `{"backup": {"name": "full", "instance": "`+id+`", "description": "first"}}`)
	if r.Code != 202 {
		t.Fatalf("create: %d %s", r.Code, r.Raw)
	}
	full := r.Body["backup"].(map[string]any)
	if full["status"] != "NEW" || full["instance_id"] != id || full["parent_id"] != nil || full["description"] != "first" {
		t.Fatalf("view: %v", full)
	}
	fullID := full["id"].(string)
	call := e.tm.lastCall(t, taskapi.MethodCreateBackup)
	args := call.Args.(taskapi.CreateBackupArgs)
	if args.InstanceID != id || args.BackupInfo.ID != fullID || args.BackupInfo.BackupType != "full" || args.BackupInfo.Parent != nil ||
		args.BackupInfo.Datastore != "mysql" || args.BackupInfo.StorageDriver != "swift" || *args.BackupInfo.SwiftContainer != "database_backups" {
		t.Fatalf("create_backup args: %+v", args)
	}
	if call.RC.AuthToken != "demo" {
		t.Fatalf("create_backup context carries no user token: %q", call.RC.AuthToken)
	}
	if n := e.count("SELECT in_use FROM quota_usages WHERE tenant_id = ? AND resource = 'backups'", projDemo); n != 1 {
		t.Fatalf("backups in use = %d", n)
	}
	// The instance shows BACKUP while it runs, and refuses another backup (422).
	if r := e.do("demo", "GET", "/v1.0/"+projDemo+"/instances/"+id, nil); r.Body["instance"].(map[string]any)["status"] != "BACKUP" {
		t.Fatalf("instance while backing up: %s", r.Raw)
	}
	if r := e.do("demo", "POST", p, `{"backup": {"name": "again", "instance": "`+id+`"}}`); r.Code != 422 {
		t.Fatalf("second backup while one runs: %d %s", r.Code, r.Raw)
	}
	// A running parent is refused; a completed one is taken by incremental=1 without parent_id.
	if r := e.do("demo", "POST", p, `{"backup": {"name": "inc", "instance": "`+id+`", "parent_id": "`+fullID+`"}}`); r.Code != 422 && r.Code != 400 {
		t.Fatalf("incremental on a running parent: %d %s", r.Code, r.Raw)
	}
	e.completeBackup(fullID)
	r = e.do("demo", "POST", p, `{"backup": {"name": "inc", "instance": "`+id+`", "incremental": 1}}`)
	if r.Code != 202 || r.Body["backup"].(map[string]any)["parent_id"] != fullID {
		t.Fatalf("implicit parent: %d %s", r.Code, r.Raw)
	}
	incID := r.Body["backup"].(map[string]any)["id"].(string)
	args = e.tm.lastCall(t, taskapi.MethodCreateBackup).Args.(taskapi.CreateBackupArgs)
	if args.BackupInfo.BackupType != "incremental" || args.BackupInfo.Parent == nil || args.BackupInfo.Parent.ID != fullID ||
		args.BackupInfo.Parent.Location != "file:///backups/"+fullID+".xbstream.gz" {
		t.Fatalf("incremental backup_info: %+v", args.BackupInfo)
	}
	e.completeBackup(incID)

	// A parent of another instance is refused.
	mine2 := e.createInstance("demo", "bk2")
	e.markActive(mine2)
	if r := e.do("demo", "POST", p, `{"backup": {"name": "x", "instance": "`+mine2+`", "parent_id": "`+fullID+`"}}`); r.Code != 400 {
		t.Fatalf("parent of another instance: %d %s", r.Code, r.Raw)
	}

	// Delete: another project's is 404; the parent takes its child with it, child first.
	if r := e.do("demo2", "DELETE", "/v1.0/"+projDemo2+"/backups/"+fullID, nil); r.Code != 404 {
		t.Fatalf("delete of another project's backup: %d %s", r.Code, r.Raw)
	}
	before := len(e.tm.methods())
	if r := e.do("demo", "DELETE", p+"/"+fullID, nil); r.Code != 202 {
		t.Fatalf("delete: %d %s", r.Code, r.Raw)
	}
	e.tm.mu.Lock()
	calls := append([]taskCall(nil), e.tm.calls[before:]...)
	e.tm.mu.Unlock()
	if len(calls) != 2 || calls[0].Args.(taskapi.DeleteBackupArgs).BackupID != incID || calls[1].Args.(taskapi.DeleteBackupArgs).BackupID != fullID {
		t.Fatalf("delete casts: %+v", calls)
	}
}

func TestDeleteRunningBackupRefused(t *testing.T) {
	e := newEnv(t)
	id := e.createInstance("demo", "bk")
	e.markActive(id)
	r := e.do("demo", "POST", "/v1.0/"+projDemo+"/backups", `{"backup": {"name": "b", "instance": "`+id+`"}}`)
	if r.Code != 202 {
		t.Fatalf("create: %d %s", r.Code, r.Raw)
	}
	bid := r.Body["backup"].(map[string]any)["id"].(string)
	if r := e.do("demo", "DELETE", "/v1.0/"+projDemo+"/backups/"+bid, nil); r.Code != 422 {
		t.Fatalf("delete of a running backup: %d %s", r.Code, r.Raw)
	}
}

func TestBackupQuota(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Quotas.Backups = 1 })
	id := e.createInstance("demo", "bk")
	e.markActive(id)
	p := "/v1.0/" + projDemo + "/backups"
	r := e.do("demo", "POST", p, `{"backup": {"name": "b1", "instance": "`+id+`"}}`)
	if r.Code != 202 {
		t.Fatalf("create: %d %s", r.Code, r.Raw)
	}
	e.completeBackup(r.Body["backup"].(map[string]any)["id"].(string))
	if r := e.do("demo", "POST", p, `{"backup": {"name": "b2", "instance": "`+id+`"}}`); r.Code != 413 {
		t.Fatalf("over quota: %d %s", r.Code, r.Raw)
	}
	if n := e.count("SELECT COUNT(*) FROM backups"); n != 1 {
		t.Fatalf("%d backups after a refused one", n)
	}
}

func TestRestorePointChecks(t *testing.T) {
	e := newEnv(t)
	id := e.createInstance("demo", "src")
	e.markActive(id)
	r := e.do("demo", "POST", "/v1.0/"+projDemo+"/backups", `{"backup": {"name": "b", "instance": "`+id+`"}}`)
	bid := r.Body["backup"].(map[string]any)["id"].(string)
	create := func(token, backup string) response {
		return e.do(token, "POST", "/v1.0/"+testTokens[token].ProjectID+"/instances", map[string]any{"instance": map[string]any{
			"name": "restored", "flavorRef": "1", "volume": map[string]any{"size": 1}, "restorePoint": map[string]any{"backupRef": backup},
			"datastore": map[string]any{"type": "mysql", "version": "8.0"}}})
	}
	if r := create("demo", bid); r.Code != 400 || !strings.Contains(r.faultMessage(), "is not completed") {
		t.Fatalf("restore of a running backup: %d %s", r.Code, r.Raw)
	}
	if r := create("demo2", bid); r.Code != 404 {
		t.Fatalf("restore of another project's backup: %d %s", r.Code, r.Raw)
	}
	e.completeBackup(bid)
	r = create("demo", bid)
	if r.Code != 200 {
		t.Fatalf("restore: %d %s", r.Code, r.Raw)
	}
	call := e.tm.lastCall(t, taskapi.MethodCreateInstance)
	if a := call.Args.(taskapi.CreateInstanceArgs); a.BackupID == nil || *a.BackupID != bid || call.RC.AuthToken == "" {
		t.Fatalf("create_instance args: backup %v token %q", a.BackupID, call.RC.AuthToken)
	}
}

func TestBackupStrategies(t *testing.T) {
	e := newEnv(t)
	p := "/v1.0/" + projDemo + "/backup_strategies"
	if r := e.do("demo", "POST", p, `{"backup_strategy": {"swift_container": "mine"}}`); r.Code != 202 ||
		r.Body["backup_strategy"].(map[string]any)["swift_container"] != "mine" || r.Body["backup_strategy"].(map[string]any)["backend"] != "swift" {
		t.Fatalf("create: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "POST", p, `{"backup_strategy": {"swift_container": "x", "extra": 1}}`); r.Code != 400 {
		t.Fatalf("extra key: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "GET", p+"?project_id="+projDemo2, nil); r.Code != 403 {
		t.Fatalf("another project's strategies: %d %s", r.Code, r.Raw)
	}
	// The project default names the container of the next backup.
	id := e.createInstance("demo", "bk")
	e.markActive(id)
	if r := e.do("demo", "POST", "/v1.0/"+projDemo+"/backups", `{"backup": {"name": "b", "instance": "`+id+`"}}`); r.Code != 202 {
		t.Fatalf("backup: %d %s", r.Code, r.Raw)
	}
	if c := e.tm.lastCall(t, taskapi.MethodCreateBackup).Args.(taskapi.CreateBackupArgs).BackupInfo.SwiftContainer; c == nil || *c != "mine" {
		t.Fatalf("container from the strategy: %v", c)
	}
	r := e.do("demo", "GET", p, nil)
	if list, _ := r.Body["backup_strategies"].([]any); r.Code != 200 || len(list) != 1 {
		t.Fatalf("list: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "DELETE", p, nil); r.Code != 202 {
		t.Fatalf("delete: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "GET", p, nil); !strings.Contains(r.Raw, `"backup_strategies":[]`) {
		t.Fatalf("after delete: %s", r.Raw)
	}
}
