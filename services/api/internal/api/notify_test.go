package api

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/notification"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/rpc/rpctest"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
	"github.com/trove-go/trove/pkg/testenv"
)

const tmKey = "bzH6y0SGmjuoY0FNSTptrhgieGXNDX6PIhvz" // the taskmanager topic's key in this test

// Casts through NotifyingTaskManager — backup create and delete, promote, eject, detach, upgrade: each
// dbaas.<event>.start with Trove's traits reaches a real oslo.messaging listener, and each cast carries its
// notification for the taskmanager to end.
func TestNotifyingTaskManagerCasts(t *testing.T) {
	n, received, tr := apiNotifier(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tmTopic := testenv.UniqueName(t, "taskmanager")
	t.Cleanup(func() { _ = tr.DeleteQueues(context.Background(), tmTopic) })
	// The taskmanager's side: what each cast carried.
	casts := make(chan rpc.Context, 6)
	srv := tr.NewServer(rpc.ServerConfig{Topic: tmTopic, Server: "tm", Version: taskapi.Version, Codec: rpc.TroveCodec(tmKey)})
	rpc.Register(srv, taskapi.MethodCreateBackup, func(_ context.Context, rc rpc.Context, _ taskapi.CreateBackupArgs) (rpc.Void, error) {
		casts <- rc
		return rpc.Void{}, nil
	})
	rpc.Register(srv, taskapi.MethodDeleteBackup, func(_ context.Context, rc rpc.Context, _ taskapi.DeleteBackupArgs) (rpc.Void, error) {
		casts <- rc
		return rpc.Void{}, nil
	})
	for _, m := range []string{taskapi.MethodPromoteToReplicaSource, taskapi.MethodEjectReplicaSource, taskapi.MethodDetachReplica} {
		rpc.Register(srv, m, func(_ context.Context, rc rpc.Context, _ taskapi.ReplicationArgs) (rpc.Void, error) {
			casts <- rc
			return rpc.Void{}, nil
		})
	}
	rpc.Register(srv, taskapi.MethodUpgrade, func(_ context.Context, rc rpc.Context, _ taskapi.UpgradeArgs) (rpc.Void, error) {
		casts <- rc
		return rpc.Void{}, nil
	})
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background()) //nolint:errcheck
	tm := &NotifyingTaskManager{Client: taskapi.NewClient(tr.Client(taskapi.Target(tmTopic), rpc.TroveCodec(tmKey))), Notify: n}

	rctx := context.WithValue(ctx, ctxKey{}, &requestContext{remoteAddr: "127.0.0.9:40000", host: "127.0.0.1:8779"})
	rc := rpc.Context{RequestID: "req-backup-1", ProjectID: "p1"}
	desc := "nightly"
	info := guestapi.BackupInfo{ID: "0b1e5b0c-0000-4000-8000-000000000001", Name: "b1", Description: &desc, InstanceID: "i-1",
		BackupType: guestapi.BackupIncremental, Datastore: "mariadb", DatastoreVersion: "10.11",
		Parent: &guestapi.BackupParent{ID: "0b1e5b0c-0000-4000-8000-000000000000", Location: "x", Checksum: "y"}}
	if err := tm.CreateBackup(rctx, rc, taskapi.CreateBackupArgs{BackupInfo: info, InstanceID: "i-1"}); err != nil {
		t.Fatal(err)
	}
	if err := tm.DeleteBackup(rctx, rc, taskapi.DeleteBackupArgs{BackupID: info.ID}); err != nil {
		t.Fatal(err)
	}
	const inst = "0b1e5b0c-0000-4000-8000-0000000000aa"
	for _, cast := range []func() error{
		func() error { return tm.PromoteToReplicaSource(rctx, rc, taskapi.ReplicationArgs{InstanceID: inst}) },
		func() error { return tm.EjectReplicaSource(rctx, rc, taskapi.ReplicationArgs{InstanceID: inst}) },
		func() error { return tm.DetachReplica(rctx, rc, taskapi.ReplicationArgs{InstanceID: inst}) },
		func() error {
			return tm.Upgrade(rctx, rc, taskapi.UpgradeArgs{InstanceID: inst, DatastoreVersionID: "0b1e5b0c-0000-4000-8000-0000000000bb"})
		},
	} {
		if err := cast(); err != nil {
			t.Fatal(err)
		}
	}
	// The server handles casts concurrently: they may arrive in any order.
	want := []string{"DBaaSBackupCreate", "DBaaSBackupDelete", "DBaaSInstancePromote", "DBaaSInstanceEject",
		"DBaaSInstanceDetach", "DBaaSInstanceUpgrade"}
	var carriedClasses []string
	for range want {
		select {
		case got := <-casts:
			var carried map[string]any
			if err := json.Unmarshal(got.Notification, &carried); err != nil {
				t.Fatalf("the cast carries %s: %v", got.Notification, err)
			}
			class, _ := carried["notification_classname"].(string)
			carriedClasses = append(carriedClasses, strings.TrimPrefix(class, "trove.common.notification."))
		case <-time.After(30 * time.Second):
			t.Fatalf("casts carried %v; want one each of %v", carriedClasses, want)
		}
	}
	slices.Sort(carriedClasses)
	slices.Sort(want)
	if !slices.Equal(carriedClasses, want) {
		t.Errorf("the casts carried %v, want %v", carriedClasses, want)
	}
	c := testenv.WaitNotification(t, received, 30*time.Second, "dbaas.backup_create.start", func(m testenv.Notification) bool {
		return m.EventType == "dbaas.backup_create.start"
	})
	if c.Payload["name"] != "b1" || c.Payload["instance_id"] != "i-1" || c.Payload["description"] != "nightly" ||
		c.Payload["parent_id"] != "0b1e5b0c-0000-4000-8000-000000000000" || c.Payload["incremental"] != true ||
		c.Payload["backup_id"] != info.ID || c.Payload["client_ip"] != "127.0.0.9" || c.PublisherID != "api.api-host" {
		t.Errorf("dbaas.backup_create.start = %+v", c)
	}
	d := testenv.WaitNotification(t, received, 30*time.Second, "dbaas.backup_delete.start", func(m testenv.Notification) bool {
		return m.EventType == "dbaas.backup_delete.start"
	})
	if d.Payload["backup_id"] != info.ID {
		t.Errorf("dbaas.backup_delete.start = %+v", d)
	}
	for _, event := range []string{"dbaas.instance_promote.start", "dbaas.instance_eject.start", "dbaas.instance_detach.start", "dbaas.upgrade.start"} {
		got := testenv.WaitNotification(t, received, 30*time.Second, event, func(m testenv.Notification) bool { return m.EventType == event })
		if got.Payload["instance_id"] != inst {
			t.Errorf("%s = %+v", event, got.Payload)
		}
	}
	u := testenv.WaitNotification(t, received, 30*time.Second, "dbaas.upgrade.start", func(m testenv.Notification) bool { return m.EventType == "dbaas.upgrade.start" })
	if u.Payload["datastore_version_id"] != "0b1e5b0c-0000-4000-8000-0000000000bb" {
		t.Errorf("dbaas.upgrade.start = %+v", u.Payload)
	}
}

// apiNotifier is a real notifier on a fresh exchange with a Python oslo.messaging listener on its topic.
func apiNotifier(t *testing.T) (*notification.Notifier, func() []testenv.Notification, *rpc.Transport) {
	t.Helper()
	url := testenv.TransportURL(t)
	exchange, topic := testenv.UniqueName(t, "trove-api-notify"), testenv.UniqueName(t, "notifications")
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tr, err := rpc.Dial(ctx, rpctest.Config(url, exchange), logrus.NewEntry(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = tr.DeleteQueues(context.Background(), topic+".info", topic+".error")
		tr.Close()
	})
	received := testenv.NotificationListener(t, url, exchange, topic)
	n, err := notification.New(ctx, notification.Config{NotifyConfig: rpc.NotifyConfig{Driver: "messagingv2", Topics: []string{topic}},
		Host: "api-host"}, rpctest.Config(url, exchange), tr, logrus.NewEntry(log))
	if err != nil {
		t.Fatal(err)
	}
	return n, received, tr
}

// Database and user operations carry Trove's notification to the guest (which ends it through the conductor)
// after trove-api emitted dbaas.<event>.start with instance_id and dbname / username.
func TestGuestOperationsCarryNotifications(t *testing.T) {
	e := newEnv(t)
	p, g := activeGuestInstance(t, e)
	id := p[strings.LastIndexByte(p, '/')+1:]
	n, received, _ := apiNotifier(t)
	e.api.notify = n
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/databases", `{"databases": [{"name": "app1"}, {"name": "app2"}]}`},
		{"POST", "/users", `{"users": [{"name": "u1", "password": "pw-123456", "databases": [{"name": "app1"}]}]}`},
		{"PUT", "/users/u1/databases", `{"databases": [{"name": "app2"}]}`},
		{"DELETE", "/users/u1/databases/app2", ""},
		{"PUT", "/users/u1", `{"user": {"password": "pw-654321"}}`},
		{"PUT", "/users", `{"users": [{"name": "u1", "password": "pw-777777"}]}`},
		{"DELETE", "/users/u1", ""},
		{"DELETE", "/databases/app2", ""},
	} {
		if r := e.do("demo", c.method, p+c.path, c.body); r.Code != 202 {
			t.Fatalf("%s %s: %d %s", c.method, c.path, r.Code, r.Raw)
		}
	}
	want := []string{"DBaaSDatabaseCreate", "DBaaSUserCreate", "DBaaSUserUpdateAttributes", "DBaaSUserChangePassword", "DBaaSUserDelete", "DBaaSDatabaseDelete"}
	g.mu.Lock()
	notes := append([]string(nil), g.notes...)
	g.mu.Unlock()
	if len(notes) != len(want) {
		t.Fatalf("the guest's write calls carried %v, want %v", notes, want)
	}
	for i, w := range want {
		if notes[i] != "trove.common.notification."+w {
			t.Errorf("call %d carried %q, want %s", i, notes[i], w)
		}
	}
	for event, traits := range map[string]map[string]any{
		"dbaas.database_create.start":        {"dbname": "app1.app2"},
		"dbaas.user_create.start":            {"username": "u1"},
		"dbaas.user_update_attributes.start": {"username": "u1"},
		"dbaas.user_grant.start":             {"username": "u1"},
		"dbaas.user_grant.end":               {"username": "u1"},
		"dbaas.user_revoke.start":            {"username": "u1"},
		"dbaas.user_revoke.end":              {"username": "u1"},
		"dbaas.user_change_password.start":   {"username": "u1"},
		"dbaas.user_delete.start":            {"username": "u1"},
		"dbaas.database_delete.start":        {"dbname": "app2"},
	} {
		got := testenv.WaitNotification(t, received, 30*time.Second, event, func(m testenv.Notification) bool { return m.EventType == event })
		if got.Payload["instance_id"] != id || got.Payload["tenant_id"] != projDemo {
			t.Errorf("%s = %+v", event, got.Payload)
		}
		for k, v := range traits {
			if got.Payload[k] != v {
				t.Errorf("%s: %s = %v, want %v", event, k, got.Payload[k], v)
			}
		}
		// Trove's database trait: the names granted, and for a revoke those the user had before it.
		want := map[string]string{"dbaas.user_grant.start": "[app2]", "dbaas.user_revoke.start": "[app1 app2]"}[event]
		if got := fmt.Sprint(got.Payload["database"]); want != "" && got != want {
			t.Errorf("%s: database = %s, want %s", event, got, want)
		}
	}
}

// Operations trove-api completes itself — configuration group create, update (PUT), edit (PATCH), delete,
// attach and detach, and reset status — are notified between dbaas.<event>.start and .end with Trove's traits.
func TestAPIOperationsNotified(t *testing.T) {
	e := newEnv(t)
	if err := e.db.UpsertConfigParams(t.Context(), e.mysql.ID, []catalog.ConfigParam{
		{Name: "max_connections", DataType: "integer", MinSize: "1", MaxSize: "100000"}}); err != nil {
		t.Fatal(err)
	}
	n, received, _ := apiNotifier(t)
	e.api.notify = n
	p := "/v1.0/" + projDemo + "/configurations"
	r := e.do("demo", "POST", p, `{"configuration": {"name": "tuned", "datastore": {"type": "mysql", "version": "8.0"}, "values": {"max_connections": 200}}}`)
	if r.Code != 200 {
		t.Fatalf("create: %d %s", r.Code, r.Raw)
	}
	cid := r.Body["configuration"].(map[string]any)["id"].(string)
	finishOverrides = func(id string) { // the taskmanager's update_overrides flow
		if _, err := e.db.SetTaskIf(t.Context(), id, status.TaskUpdating, status.TaskNone); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { finishOverrides = nil })
	id := e.createInstance("demo", "db-n")
	e.markActive(id)
	ip := "/v1.0/" + projDemo + "/instances/" + id
	if r := e.do("demo", "PUT", ip, `{"instance": {"configuration": "`+cid+`"}}`); r.Code != 202 {
		t.Fatalf("attach: %d %s", r.Code, r.Raw)
	}
	e.markActive(id)
	if r := e.do("demo", "PUT", ip, `{"instance": {"configuration": null}}`); r.Code != 202 {
		t.Fatalf("detach: %d %s", r.Code, r.Raw)
	}
	for _, c := range []struct{ method, body string }{
		{"PATCH", `{"configuration": {"values": {"max_connections": 300}}}`},
		{"PUT", `{"configuration": {"name": "retuned", "values": {"max_connections": 400}}}`},
		{"DELETE", ""},
	} {
		if r := e.do("demo", c.method, p+"/"+cid, c.body); r.Code/100 != 2 {
			t.Fatalf("%s: %d %s", c.method, r.Code, r.Raw)
		}
	}
	if r := e.do("admin", "POST", "/v1.0/"+projAdmin+"/instances/"+id+"/action", `{"reset_status": {}}`); r.Code != 202 {
		t.Fatalf("reset_status: %d %s", r.Code, r.Raw)
	}
	for event, traits := range map[string]map[string]any{
		"dbaas.configuration_create.start":          {"name": "tuned", "datastore": "mysql", "datastore_version": "8.0"},
		"dbaas.configuration_create.end":            {"configuration_id": cid},
		"dbaas.configuration_edit.start":            {"configuration_id": cid},
		"dbaas.configuration_edit.end":              {"configuration_id": cid},
		"dbaas.configuration_update.start":          {"configuration_id": cid, "name": "retuned"},
		"dbaas.configuration_update.end":            {"configuration_id": cid},
		"dbaas.configuration_delete.start":          {"configuration_id": cid},
		"dbaas.configuration_delete.end":            {"configuration_id": cid},
		"dbaas.instance_attach_configuration.start": {"instance_id": id, "configuration_id": cid},
		"dbaas.instance_attach_configuration.end":   {"instance_id": id},
		"dbaas.instance_detach_configuration.start": {"instance_id": id},
		"dbaas.instance_detach_configuration.end":   {"instance_id": id},
		"dbaas.instance_reset_status.start":         {"instance_id": id},
		"dbaas.instance_reset_status.end":           {"instance_id": id},
	} {
		got := testenv.WaitNotification(t, received, 30*time.Second, event, func(m testenv.Notification) bool { return m.EventType == event })
		for k, v := range traits {
			if got.Payload[k] != v {
				t.Errorf("%s: %s = %v, want %v (%v)", event, k, got.Payload[k], v, got.Payload)
			}
		}
		if got.Payload["server_type"] != "api" || got.Payload["tenant_id"] == nil {
			t.Errorf("%s = %+v", event, got.Payload)
		}
	}
}
