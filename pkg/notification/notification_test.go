package notification

import (
	"context"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/rpc/rpctest"
	"github.com/trove-go/trove/pkg/testenv"
)

func TestConfigFrom(t *testing.T) {
	f, err := config.Parse("[DEFAULT]\nhost = tm1\nregion = R1\nexists_notification_transformer = x\nexists_notification_interval = 60\n" +
		"notification_service_id = mariadb:abc,mysql:def\n[oslo_messaging_notifications]\ndriver = messagingv2\ntopics = notifications,billing\n")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ConfigFrom(f)
	if err != nil {
		t.Fatal(err)
	}
	if !c.OnBroker() || len(c.Topics) != 2 || c.Host != "tm1" || c.Region != "R1" || c.ExistsInterval != time.Minute ||
		c.ServiceIDs["mariadb"] != "abc" || c.ServiceIDs["mysql"] != "def" || c.ExistsTransformer != "x" {
		t.Fatalf("config %+v", c)
	}
	empty, _ := config.Parse("")
	if c, err := ConfigFrom(empty); err != nil || c.OnBroker() || c.Driver != "" || c.Topics[0] != "notifications" ||
		c.Region != "LOCAL_DEV" || c.ServiceIDs["mariadb"] != DefaultServiceIDs["mariadb"] {
		t.Fatalf("defaults %+v %v", c, err)
	}
	bad, _ := config.Parse("[oslo_messaging_notifications]\ndriver = routing\n")
	if _, err := ConfigFrom(bad); err == nil {
		t.Fatal("unknown driver accepted")
	}
}

func TestEventType(t *testing.T) {
	for class, want := range map[string]string{
		"trove.common.notification.DBaaSInstanceCreate":         "instance_create",
		"trove.common.notification.DBaaSInstanceResizeVolume":   "instance_resize_volume",
		"trove.common.notification.DBaaSInstanceResizeInstance": "instance_resize_instance",
		"trove.common.notification.DBaaSUserUpdateAttributes":   "user_update_attributes",
		"trove.common.notification.DBaaSInstanceUpgrade":        "upgrade",
		"DBaaSBackupCreate": "backup_create",
	} {
		if got := EventType(class); got != want {
			t.Errorf("EventType(%s) = %s, want %s", class, got, want)
		}
	}
}

func TestNoopEmitsNothing(t *testing.T) {
	var n *Notifier
	n.InstanceUsage(context.Background(), rpc.Context{}, EventCreate, Instance{}, nil) // nil is a noop
	n2, err := New(context.Background(), Config{}, rpc.Config{}, nil, logrus.NewEntry(logrus.New()))
	if err != nil || n2.Enabled() {
		t.Fatalf("noop notifier: %v %v", n2.Enabled(), err)
	}
}

// TestPythonListenerReceives: a real oslo.messaging notification listener receives the usage and DBaaS events
// with Trove's payload keys.
func TestPythonListenerReceives(t *testing.T) {
	url := testenv.TransportURL(t)
	exchange := testenv.UniqueName(t, "trove-notify")
	topic := testenv.UniqueName(t, "notifications")
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tr, err := rpc.Dial(ctx, rpctest.Config(url, exchange), logrus.NewEntry(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = tr.DeleteQueues(context.Background(), topic+".info", topic+".warn", topic+".error", topic+".audit", topic+".critical",
			topic+".debug", topic+".sample")
		tr.Close()
	})
	received := testenv.NotificationListener(t, url, exchange, topic)
	cfg := Config{NotifyConfig: rpc.NotifyConfig{Driver: "messagingv2", Topics: []string{topic}}, Host: "tm-host", Region: "RegionOne",
		ServiceIDs: DefaultServiceIDs, ExistsInterval: time.Hour}
	n, err := New(ctx, cfg, rpctest.Config(url, exchange), tr, logrus.NewEntry(log))
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := Instance{ID: "i-1", Name: "db1", TenantID: "p1", UserID: "u1", FlavorID: "1", FlavorName: "small", RAM: 512,
		ServerID: "s-1", VolumeID: "v-1", VolumeSize: 2, Created: created, Status: "ACTIVE", Manager: "mariadb"}
	n.InstanceUsage(ctx, rpc.Context{RequestID: "req-1", UserID: "u1", ProjectID: "p1", AuthToken: "secret-token"}, EventCreate, in, nil)
	n.Exists(ctx, []Instance{in}, created.Add(2*time.Hour))
	s := NewDBaaS("DBaaSInstanceCreate", "req-2", "127.0.0.9", "127.0.0.1:8779", "p1", map[string]any{"name": "db1"})
	n.DBaaS(ctx, rpc.Context{RequestID: "req-2"}, s, "start", nil)

	c := testenv.WaitNotification(t, received, 30*time.Second, "trove.instance.create", func(m testenv.Notification) bool {
		return m.EventType == "trove.instance.create"
	})
	for _, k := range []string{"created_at", "name", "instance_id", "instance_name", "instance_type_id", "launched_at",
		"nova_instance_id", "region", "state", "state_description", "tenant_id", "user_id", "instance_type", "instance_size",
		"availability_zone", "volume_size", "nova_volume_id", "service_id"} {
		if _, ok := c.Payload[k]; !ok {
			t.Errorf("trove.instance.create payload lacks %s: %v", k, c.Payload)
		}
	}
	if c.Payload["state"] != "active" || c.Payload["service_id"] != DefaultServiceIDs["mariadb"] || c.Payload["created_at"] != "2026-01-02T03:04:05Z" ||
		c.PublisherID != "tm-host" || c.Priority != "INFO" || c.Context["request_id"] != "req-1" {
		t.Errorf("create = %+v", c)
	}
	if tok, ok := c.Context["auth_token"]; ok && tok != nil && tok != "" {
		t.Errorf("the user's token was sent: %v", tok)
	}
	e := testenv.WaitNotification(t, received, 30*time.Second, "trove.instance.exists", func(m testenv.Notification) bool {
		return m.EventType == "trove.instance.exists"
	})
	if e.Payload["audit_period_beginning"] != "2026-01-02T04:04:05Z" || e.Payload["audit_period_ending"] != "2026-01-02T05:04:05Z" ||
		e.Payload["display_name"] != "db1" || e.PublisherID != "taskmanager.tm-host" {
		t.Errorf("exists = %+v", e)
	}
	d := testenv.WaitNotification(t, received, 30*time.Second, "dbaas.instance_create.start", func(m testenv.Notification) bool {
		return m.EventType == "dbaas.instance_create.start"
	})
	if d.PublisherID != "api.tm-host" || d.Payload["client_ip"] != "127.0.0.9" || d.Payload["name"] != "db1" {
		t.Errorf("dbaas = %+v", d)
	}
	if _, ok := d.Payload["notification_classname"]; ok {
		t.Errorf("dbaas payload carries the class name: %v", d.Payload)
	}
}
