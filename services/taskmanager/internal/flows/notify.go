package flows

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/notification"
	"github.com/trove-go/trove/pkg/rpc"
)

// usage emits trove.instance.<event> for inst (Deps.Notify; nothing when notifications are off): the flavor's
// name and RAM from the compute driver, the datastore manager's service_id, the requesting user. state is the
// API status the instance has at that point (ACTIVE after a create or a resize, SHUTDOWN while deleted). A
// restore drill's throwaway instance is the control plane's (it takes no quota): it is not billed.
func (m *Manager) usage(ctx context.Context, rc rpc.Context, inst catalog.Instance, event, state string, extra map[string]any) {
	if !m.Notify.Enabled() || inst.Type == catalog.InstanceTypeDrill {
		return
	}
	in := notification.Instance{ID: inst.ID, Name: inst.Name, TenantID: inst.TenantID, UserID: rc.UserID, FlavorID: inst.FlavorID,
		ServerID: inst.ComputeInstanceID, VolumeID: inst.VolumeID, VolumeSize: inst.VolumeSize, Created: inst.Created, Status: state}
	if fl, err := m.Compute.GetFlavor(ctx, inst.FlavorID); err == nil {
		in.FlavorName, in.RAM = fl.Name, fl.RAM
	}
	if ver, err := m.Catalog.GetVersion(ctx, inst.DatastoreVersionID); err == nil {
		in.Manager = ver.Manager
	}
	m.Notify.InstanceUsage(ctx, rc, event, in, extra)
}

// PublishExists emits trove.instance.exists for every live instance with a guest status (Trove's
// NotificationTransformer skips the others: too new, picked up next time).
func (m *Manager) PublishExists(ctx context.Context) error {
	rows, err := m.Catalog.LiveInstances(ctx)
	if err != nil {
		return err
	}
	now := m.TimeNow()
	var ins []notification.Instance
	for _, r := range rows {
		if r.StatusID == nil {
			continue
		}
		ins = append(ins, notification.Instance{ID: r.ID, Name: r.Name, TenantID: r.TenantID, FlavorID: r.FlavorID,
			ServerID: r.ComputeInstanceID, Created: r.Created, Status: r.Status(now, m.Config.HeartbeatExpiry),
			Manager: r.DatastoreManager})
	}
	m.Notify.Exists(ctx, ins, now)
	return nil
}

// PublishQuotas emits dbaas.quota for every resource of every tenant the catalog knows (Trove's
// publish_quota_notifications, every quota_notification_interval).
func (m *Manager) PublishQuotas(ctx context.Context) error {
	qs, err := m.Catalog.AllQuotas(ctx, m.Config.Quotas)
	if err != nil {
		return err
	}
	for _, q := range qs {
		m.Notify.Quota(ctx, q.Tenant, notification.Quota{Resource: q.Resource, InUse: q.InUse, Reserved: q.Reserved,
			Limit: q.Limit, Updated: q.Updated})
	}
	return nil
}

// ExistsLoop runs PublishExists every interval until ctx ends.
func (m *Manager) ExistsLoop(ctx context.Context, every time.Duration) {
	m.every(ctx, every, "trove.instance.exists", m.PublishExists)
}

// QuotaLoop runs PublishQuotas every interval until ctx ends.
func (m *Manager) QuotaLoop(ctx context.Context, every time.Duration) {
	m.every(ctx, every, "dbaas.quota", m.PublishQuotas)
}

// every runs publish each interval until ctx ends; a failed run is logged and the next one tried.
func (m *Manager) every(ctx context.Context, interval time.Duration, what string, publish func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := publish(ctx); err != nil {
				m.Log.WithError(err).Warn("publishing " + what + " failed; tried again in " + interval.String())
			}
		}
	}
}

// ending takes the request's trove_notification out of rc (so no guest call forwards it: the taskmanager ends
// it, as Trove's EndNotification with server_type taskmanager) and wraps fn so the notification ends with the
// flow: dbaas.<event>.end on success, .error with the failure.
func (m *Manager) ending(rc *rpc.Context, instanceID string, fn func(ctx context.Context) error) func(ctx context.Context) error {
	raw := rc.Notification
	rc.Notification = nil
	if len(raw) == 0 || !m.Notify.Enabled() {
		return fn
	}
	var n notification.Serialized
	if err := json.Unmarshal(raw, &n); err != nil {
		m.log(instanceID).WithError(err).Warn("trove_notification is not an object; not ended")
		return fn
	}
	n["server_type"] = "taskmanager"
	nrc := *rc
	return func(ctx context.Context) error {
		err := fn(ctx)
		if err != nil {
			m.Notify.DBaaS(ctx, nrc, n, "error", map[string]any{"message": err.Error(), "exception": strings.Split(err.Error(), "\n"), "instance_id": instanceID})
			return err
		}
		m.Notify.DBaaS(ctx, nrc, n, "end", nil)
		return nil
	}
}
