package flows

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/notification"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/rpc/rpctest"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
	"github.com/trove-go/trove/pkg/testenv"
)

// flowCounts records FlowMetrics calls.
type flowCounts struct {
	mu      sync.Mutex
	started map[string]int
	failed  map[string]int
}

func (f *flowCounts) FlowStarted(kind string) { f.mu.Lock(); f.started[kind]++; f.mu.Unlock() }
func (f *flowCounts) FlowEnded(kind string, err error) {
	f.mu.Lock()
	if err != nil {
		f.failed[kind]++
	}
	f.mu.Unlock()
}

// A billing system's oslo.messaging listener receives trove.instance.create once the database runs,
// trove.instance.exists for live instances, trove.instance.delete, and the end of the API's dbaas.instance_create
// notification, all with Trove's payload keys; flows are counted per kind.
func TestUsageNotificationsReachPythonListener(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	topic := testenv.UniqueName(t, "notifications")
	received := testenv.NotificationListener(t, testenv.TransportURL(t), e.exchange, topic)
	t.Cleanup(func() { _ = e.tr.DeleteQueues(context.Background(), topic+".info", topic+".error") })
	cfg := notification.Config{NotifyConfig: rpc.NotifyConfig{Driver: "messagingv2", Topics: []string{topic}}, Host: "tm-test",
		Region: "RegionOne", ServiceIDs: notification.DefaultServiceIDs, ExistsInterval: time.Hour}
	n, err := notification.New(ctx, cfg, rpctest.Config(testenv.TransportURL(t), e.exchange), e.tr, logrus.NewEntry(logrus.New()))
	if err != nil {
		t.Fatal(err)
	}
	counts := &flowCounts{started: map[string]int{}, failed: map[string]int{}}
	e.m.Notify, e.m.Metrics = n, counts

	const key = "bzH6y0SGmjuoY0FNSTptrhgieGXNDX6PIhvz"
	tmTopic := "taskmanager-" + e.exchange
	srv := e.tr.NewServer(rpc.ServerConfig{Topic: tmTopic, Server: "0.0.0.0", Version: taskapi.Version, Codec: rpc.TroveCodec(key)})
	e.m.Register(srv)
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(ctx) //nolint:errcheck
	api := taskapi.NewClient(e.tr.Client(taskapi.Target(tmTopic), rpc.TroveCodec(key)))

	in := e.instance("billed", "")
	start := notification.NewDBaaS("DBaaSInstanceCreate", rc.RequestID, "127.0.0.9", "127.0.0.1:8779", in.TenantID,
		map[string]any{"name": in.Name, "flavor_id": "1", "datastore": "mariadb", "datastore_version": "10.11", "image_id": "mariadb-local",
			"availability_zone": nil, "region_name": "RegionOne", "instance_id": in.ID})
	crc := rc
	if crc.Notification, err = json.Marshal(start); err != nil {
		t.Fatal(err)
	}
	if err := api.CreateInstance(ctx, crc, createArgs(in, "mariadb-local")); err != nil {
		t.Fatal(err)
	}
	// The idle guest never reports: report running for it once the server exists.
	waitFor(t, "server created", func() bool { return e.get(in.ID).ComputeInstanceID != "" })
	if err := e.db.SetServiceStatus(ctx, in.ID, status.Running); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "instance active", func() bool { return e.get(in.ID).Task() == status.TaskNone })

	create := testenv.WaitNotification(t, received, 30*time.Second, "trove.instance.create", func(m testenv.Notification) bool {
		return m.EventType == "trove.instance.create" && m.Payload["instance_id"] == in.ID
	})
	for _, k := range []string{"availability_zone", "created_at", "name", "instance_id", "instance_name", "instance_size",
		"instance_type", "instance_type_id", "launched_at", "nova_instance_id", "region", "state_description", "state",
		"tenant_id", "user_id", "volume_size", "nova_volume_id", "service_id"} {
		if _, ok := create.Payload[k]; !ok {
			t.Errorf("trove.instance.create lacks %s: %v", k, create.Payload)
		}
	}
	if create.Payload["state"] != "active" || create.Payload["instance_size"] != float64(512) || create.Payload["user_id"] != rc.UserID ||
		create.Payload["service_id"] != notification.DefaultServiceIDs["mariadb"] || create.PublisherID != "tm-test" {
		t.Errorf("trove.instance.create = %+v", create)
	}
	end := testenv.WaitNotification(t, received, 30*time.Second, "dbaas.instance_create.end", func(m testenv.Notification) bool {
		return m.EventType == "dbaas.instance_create.end" && m.Payload["instance_id"] == in.ID
	})
	if end.PublisherID != "taskmanager.tm-test" || end.Payload["server_type"] != "taskmanager" || end.Payload["request_id"] != rc.RequestID {
		t.Errorf("dbaas.instance_create.end = %+v", end)
	}

	if err := e.m.PublishExists(ctx); err != nil {
		t.Fatal(err)
	}
	exists := testenv.WaitNotification(t, received, 30*time.Second, "trove.instance.exists", func(m testenv.Notification) bool {
		return m.EventType == "trove.instance.exists" && m.Payload["instance_id"] == in.ID
	})
	for _, k := range []string{"audit_period_beginning", "audit_period_ending", "created_at", "display_name", "instance_id",
		"instance_name", "instance_type_id", "launched_at", "nova_instance_id", "region", "state_description", "state", "tenant_id", "service_id"} {
		if _, ok := exists.Payload[k]; !ok {
			t.Errorf("trove.instance.exists lacks %s: %v", k, exists.Payload)
		}
	}

	// dbaas.quota (quota_notification_interval): every resource of the tenant, with the instance counted.
	if err := e.m.PublishQuotas(ctx); err != nil {
		t.Fatal(err)
	}
	quota := testenv.WaitNotification(t, received, 30*time.Second, "dbaas.quota", func(m testenv.Notification) bool {
		return m.EventType == "dbaas.quota" && m.Payload["tenant_id"] == in.TenantID && m.Payload["resource"] == "instances"
	})
	for _, k := range []string{"resource", "in_use", "reserved", "limit", "updated"} {
		if _, ok := quota.Payload[k]; !ok {
			t.Errorf("dbaas.quota lacks %s: %v", k, quota.Payload)
		}
	}
	if quota.Payload["in_use"] != float64(1) || quota.Payload["limit"] != float64(catalog.TroveDefaults.Instances) ||
		quota.Payload["updated"] == nil || quota.PublisherID != "tm-test" {
		t.Errorf("dbaas.quota = %+v", quota)
	}

	// delete_backup carrying the API's DBaaSBackupDelete: ended by the taskmanager once the backup is gone.
	b, err := e.db.CreateBackup(ctx, catalog.Backup{Name: "never stored", TenantID: in.TenantID, InstanceID: in.ID,
		DatastoreVersionID: in.DatastoreVersionID, BackupType: "InnoBackupEx"}, catalog.TroveDefaults)
	if err != nil {
		t.Fatal(err)
	}
	brc := rc
	if brc.Notification, err = json.Marshal(notification.NewDBaaS("DBaaSBackupDelete", rc.RequestID, "127.0.0.9", "127.0.0.1:8779",
		in.TenantID, map[string]any{"backup_id": b.ID})); err != nil {
		t.Fatal(err)
	}
	if err := api.DeleteBackup(ctx, brc, taskapi.DeleteBackupArgs{BackupID: b.ID}); err != nil {
		t.Fatal(err)
	}
	bend := testenv.WaitNotification(t, received, 30*time.Second, "dbaas.backup_delete.end", func(m testenv.Notification) bool {
		return m.EventType == "dbaas.backup_delete.end" && m.Payload["backup_id"] == b.ID
	})
	if bend.Payload["server_type"] != "taskmanager" {
		t.Errorf("dbaas.backup_delete.end = %+v", bend)
	}
	if _, err := e.db.GetBackup(ctx, b.ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("the backup row after delete_backup: %v", err)
	}

	if err := e.db.SetTask(ctx, in.ID, status.TaskDeleting); err != nil {
		t.Fatal(err)
	}
	if err := api.DeleteInstance(ctx, rc, taskapi.DeleteInstanceArgs{InstanceID: in.ID}); err != nil {
		t.Fatal(err)
	}
	del := testenv.WaitNotification(t, received, 30*time.Second, "trove.instance.delete", func(m testenv.Notification) bool {
		return m.EventType == "trove.instance.delete" && m.Payload["instance_id"] == in.ID
	})
	if _, ok := del.Payload["deleted_at"]; !ok || del.Payload["state"] != "shutdown" {
		t.Errorf("trove.instance.delete = %+v", del.Payload)
	}
	e.m.Wait()
	counts.mu.Lock()
	defer counts.mu.Unlock()
	if counts.started["create"] != 1 || counts.started["delete"] != 1 || counts.failed["create"] != 0 {
		t.Errorf("flow counts started %v failed %v", counts.started, counts.failed)
	}
}

// A failed flow ends the API's notification with dbaas.<event>.error carrying the failure.
func TestEndingReportsError(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	topic := testenv.UniqueName(t, "notifications")
	received := testenv.NotificationListener(t, testenv.TransportURL(t), e.exchange, topic)
	t.Cleanup(func() { _ = e.tr.DeleteQueues(context.Background(), topic+".info", topic+".error") })
	n, err := notification.New(ctx, notification.Config{NotifyConfig: rpc.NotifyConfig{Driver: "messagingv2", Topics: []string{topic}},
		Host: "h"}, rpctest.Config(testenv.TransportURL(t), e.exchange), e.tr, logrus.NewEntry(logrus.New()))
	if err != nil {
		t.Fatal(err)
	}
	e.m.Notify = n
	r := rc
	r.Notification, _ = json.Marshal(notification.NewDBaaS("DBaaSInstanceRestart", rc.RequestID, "c", "s", "t", map[string]any{"instance_id": "i-9"}))
	fn := e.m.ending(&r, "i-9", func(context.Context) error { return errors.New("guest did not answer") })
	if r.Notification != nil {
		t.Fatal("the notification stays in the flow's context (a guest would forward it)")
	}
	if err := fn(ctx); err == nil {
		t.Fatal("the flow's error was swallowed")
	}
	got := testenv.WaitNotification(t, received, 30*time.Second, "dbaas.instance_restart.error", func(m testenv.Notification) bool {
		return m.EventType == "dbaas.instance_restart.error"
	})
	if got.Payload["message"] != "guest did not answer" || got.Payload["instance_id"] != "i-9" || got.Payload["exception"] == nil {
		t.Errorf("error notification %+v", got.Payload)
	}
}
