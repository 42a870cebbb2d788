package conductor

import (
	"context"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/conductorapi"
	"github.com/trove-go/trove/pkg/notification"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/rpc/rpctest"
	"github.com/trove-go/trove/pkg/testenv"
)

// A guest's forwarded notifications (notify_end, notify_exc_info) reach a Python oslo.messaging listener as
// Trove's conductor emits them: dbaas.<event>.end and .error under publisher guest.<host>.
func TestGuestNotificationsEmitted(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	topic := testenv.UniqueName(t, "notifications")
	received := testenv.NotificationListener(t, testenv.TransportURL(t), e.tr.Exchange(), topic)
	t.Cleanup(func() { _ = e.tr.DeleteQueues(context.Background(), topic+".info", topic+".error") })
	n, err := notification.New(ctx, notification.Config{NotifyConfig: rpc.NotifyConfig{Driver: "messagingv2", Topics: []string{topic}},
		Host: "cond-1"}, rpctest.Config(testenv.TransportURL(t), e.tr.Exchange()), e.tr, logrus.NewEntry(logrus.New()))
	if err != nil {
		t.Fatal(err)
	}
	e.c.Notify = n
	const key = "Q7dX2mLp9RtZ4vKc8NwB1sYh6JfE3gUa"
	id := e.instance(t, key, "aead")
	c := e.sender(id, key, rpc.EnvelopeAEAD)
	rc := rpc.Context{RequestID: "req-guest-1", ProjectID: "tenant"}
	base := map[string]any{"request_id": "req-guest-1", "server_type": "guest", "client_ip": "127.0.0.9", "server_ip": "api",
		"tenant_id": "tenant", "instance_id": id}
	end := map[string]any{"notification_classname": "trove.common.notification.DBaaSDatabaseCreate", "dbname": "app"}
	fail := map[string]any{"notification_classname": "trove.common.notification.DBaaSUserCreate", "username": "app"}
	for k, v := range base {
		end[k], fail[k] = v, v
	}
	if err := c.Cast(ctx, rc, conductorapi.MethodNotifyEnd, conductorapi.NotifyEndArgs{SerializedNotification: end, NotificationArgs: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Cast(ctx, rc, conductorapi.MethodNotifyExcInfo, conductorapi.NotifyExcInfoArgs{SerializedNotification: fail,
		Message: "user exists", Exception: []string{"Traceback\n", "exists\n"}}); err != nil {
		t.Fatal(err)
	}
	got := testenv.WaitNotification(t, received, 30*time.Second, "dbaas.database_create.end", func(m testenv.Notification) bool {
		return m.EventType == "dbaas.database_create.end"
	})
	if got.PublisherID != "guest.cond-1" || got.Payload["dbname"] != "app" || got.Payload["instance_id"] != id {
		t.Errorf("end = %+v", got)
	}
	got = testenv.WaitNotification(t, received, 30*time.Second, "dbaas.user_create.error", func(m testenv.Notification) bool {
		return m.EventType == "dbaas.user_create.error"
	})
	if got.Payload["message"] != "user exists" || got.Payload["username"] != "app" {
		t.Errorf("error = %+v", got)
	}
}
