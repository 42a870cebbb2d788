package conductor

import (
	"context"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/conductorapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
)

// No silent failure (issue 12): a create_database cast that failed on a running guest comes back as
// notify_exc_info with the notification the guest made itself (no trove_notification from the API); the
// conductor logs it and records it as the instance's fault, and the instance's task and status stay as they
// were.
func TestGuestFailureAfterCastIsAFault(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	id := e.instance(t, keyB, catalog.EnvelopeAEAD)
	if err := e.db.SetTask(ctx, id, status.TaskNone); err != nil {
		t.Fatal(err)
	}
	c := e.sender(id, keyB, rpc.EnvelopeAEAD)
	heartbeat(t, c, id, "healthy", time.Now())
	e.settle(t, func() bool { return e.status(t, id).Same(status.Healthy) })

	msg := `database "xx" not created: psql: exit status 3: ERROR:  invalid locale name: "de_DE.utf8"`
	exc := conductorapi.NotifyExcInfoArgs{
		SerializedNotification: map[string]any{"notification_classname": "trove.common.notification.DBaaSDatabaseCreate",
			"request_id": "req-guest", "server_type": "guest", "tenant_id": "tenant", "client_ip": nil, "server_ip": nil,
			"instance_id": id},
		Message: msg, Exception: []string{msg},
	}
	if err := c.Cast(ctx, rpc.Context{}, conductorapi.MethodNotifyExcInfo, exc); err != nil {
		t.Fatal(err)
	}
	e.settle(t, func() bool { f, _ := e.db.GetFault(ctx, id); return f.Message == msg })
	e.line(t, "notification error", map[string]any{"instance_id": id, "message": msg})
	row, err := e.db.GetInstance(ctx, id)
	if err != nil || row.Task() != status.TaskNone || !e.status(t, id).Same(status.Healthy) {
		t.Fatalf("task %q status %q after the fault (%v)", row.TaskDescription, e.status(t, id).Description, err)
	}
}
