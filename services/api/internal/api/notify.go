package api

import (
	"context"
	"encoding/json"
	"net"

	"github.com/trove-go/trove/pkg/notification"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/taskapi"
)

// NotifyingTaskManager is the taskmanager client that tells billing and audit what the API started: each
// instance operation it casts emits Trove's dbaas.<event>.start (client_ip, server_ip, tenant_id, request_id,
// server_type api and the operation's traits) and carries the notification in the cast's trove_notification,
// which the taskmanager ends with .end or .error when the flow is over (as Trove's StartNotification /
// EndNotification). Every other method is *taskapi.Client's.
type NotifyingTaskManager struct {
	*taskapi.Client
	Notify *notification.Notifier
	Region string // [DEFAULT] region: region_name of instance_create
}

// start emits the start notification of class for the request in ctx and returns rc carrying it.
func (t *NotifyingTaskManager) start(ctx context.Context, rc rpc.Context, class string, traits map[string]any) rpc.Context {
	return startNotification(ctx, t.Notify, rc, class, traits)
}

// startNotification is Trove's StartNotification: dbaas.<event>.start of class (client_ip, server_ip,
// tenant_id, request_id, server_type api and traits) for the request in ctx, and rc carrying the notification
// (trove_notification) for whoever ends it — the taskmanager for its casts, the guest (notify_end through the
// conductor) for database and user operations. Without notifications (n off) rc is returned unchanged.
func startNotification(ctx context.Context, n *notification.Notifier, rc rpc.Context, class string, traits map[string]any) rpc.Context {
	req, _ := ctx.Value(ctxKey{}).(*requestContext)
	if !n.Enabled() || req == nil {
		return rc
	}
	client := req.remoteAddr
	if h, _, err := net.SplitHostPort(client); err == nil {
		client = h
	}
	s := notification.NewDBaaS(class, rc.RequestID, client, req.host, rc.ProjectID, traits)
	n.DBaaS(ctx, rc, s, "start", nil)
	if b, err := json.Marshal(s); err == nil {
		rc.Notification = b
	}
	return rc
}

// CreateInstance casts create_instance with DBaaSInstanceCreate.
func (t *NotifyingTaskManager) CreateInstance(ctx context.Context, rc rpc.Context, a taskapi.CreateInstanceArgs) error {
	traits := map[string]any{"name": a.Name, "flavor_id": a.Flavor.ID, "datastore": a.DatastoreManager,
		"datastore_version": a.DSVersion, "image_id": a.ImageID, "availability_zone": a.AvailabilityZone,
		"region_name": t.Region, "instance_id": a.InstanceID, "volume_size": a.VolumeSize}
	if a.BackupID != nil {
		traits["backup_id"] = *a.BackupID
	}
	if a.SlaveOfID != nil {
		traits["replica_of"] = *a.SlaveOfID
	}
	return t.Client.CreateInstance(ctx, t.start(ctx, rc, "DBaaSInstanceCreate", traits), a)
}

// DeleteInstance casts delete_instance with DBaaSInstanceDelete.
func (t *NotifyingTaskManager) DeleteInstance(ctx context.Context, rc rpc.Context, a taskapi.DeleteInstanceArgs) error {
	return t.Client.DeleteInstance(ctx, t.start(ctx, rc, "DBaaSInstanceDelete", map[string]any{"instance_id": a.InstanceID}), a)
}

// Restart casts restart with DBaaSInstanceRestart.
func (t *NotifyingTaskManager) Restart(ctx context.Context, rc rpc.Context, a taskapi.RestartArgs) error {
	return t.Client.Restart(ctx, t.start(ctx, rc, "DBaaSInstanceRestart", map[string]any{"instance_id": a.InstanceID}), a)
}

// ResizeVolume casts resize_volume with DBaaSInstanceResizeVolume.
func (t *NotifyingTaskManager) ResizeVolume(ctx context.Context, rc rpc.Context, a taskapi.ResizeVolumeArgs) error {
	return t.Client.ResizeVolume(ctx, t.start(ctx, rc, "DBaaSInstanceResizeVolume",
		map[string]any{"instance_id": a.InstanceID, "new_size": a.NewSize}), a)
}

// ResizeFlavor casts resize_flavor with DBaaSInstanceResizeInstance.
func (t *NotifyingTaskManager) ResizeFlavor(ctx context.Context, rc rpc.Context, a taskapi.ResizeFlavorArgs) error {
	return t.Client.ResizeFlavor(ctx, t.start(ctx, rc, "DBaaSInstanceResizeInstance",
		map[string]any{"instance_id": a.InstanceID, "new_flavor_id": a.NewFlavor.ID}), a)
}

// CreateBackup casts create_backup with DBaaSBackupCreate (Trove's traits: name, instance_id, description,
// parent_id, incremental, backup_id); the taskmanager ends it once the guest has the backup, as Trove's.
func (t *NotifyingTaskManager) CreateBackup(ctx context.Context, rc rpc.Context, a taskapi.CreateBackupArgs) error {
	info := a.BackupInfo
	var parent any
	if info.Parent != nil {
		parent = info.Parent.ID
	}
	traits := map[string]any{"name": info.Name, "instance_id": a.InstanceID, "description": info.Description,
		"parent_id": parent, "incremental": info.Parent != nil, "backup_id": info.ID}
	return t.Client.CreateBackup(ctx, t.start(ctx, rc, "DBaaSBackupCreate", traits), a)
}

// DeleteBackup casts delete_backup with DBaaSBackupDelete (backup_id), ended by the taskmanager.
func (t *NotifyingTaskManager) DeleteBackup(ctx context.Context, rc rpc.Context, a taskapi.DeleteBackupArgs) error {
	return t.Client.DeleteBackup(ctx, t.start(ctx, rc, "DBaaSBackupDelete", map[string]any{"backup_id": a.BackupID}), a)
}

// PromoteToReplicaSource casts promote_to_replica_source with DBaaSInstancePromote (instance_id).
func (t *NotifyingTaskManager) PromoteToReplicaSource(ctx context.Context, rc rpc.Context, a taskapi.ReplicationArgs) error {
	return t.Client.PromoteToReplicaSource(ctx, t.start(ctx, rc, "DBaaSInstancePromote", map[string]any{"instance_id": a.InstanceID}), a)
}

// EjectReplicaSource casts eject_replica_source with DBaaSInstanceEject (instance_id).
func (t *NotifyingTaskManager) EjectReplicaSource(ctx context.Context, rc rpc.Context, a taskapi.ReplicationArgs) error {
	return t.Client.EjectReplicaSource(ctx, t.start(ctx, rc, "DBaaSInstanceEject", map[string]any{"instance_id": a.InstanceID}), a)
}

// DetachReplica casts detach_replica with DBaaSInstanceDetach (instance_id).
func (t *NotifyingTaskManager) DetachReplica(ctx context.Context, rc rpc.Context, a taskapi.ReplicationArgs) error {
	return t.Client.DetachReplica(ctx, t.start(ctx, rc, "DBaaSInstanceDetach", map[string]any{"instance_id": a.InstanceID}), a)
}

// Upgrade casts upgrade with DBaaSInstanceUpgrade (instance_id, datastore_version_id).
func (t *NotifyingTaskManager) Upgrade(ctx context.Context, rc rpc.Context, a taskapi.UpgradeArgs) error {
	return t.Client.Upgrade(ctx, t.start(ctx, rc, "DBaaSInstanceUpgrade",
		map[string]any{"instance_id": a.InstanceID, "datastore_version_id": a.DatastoreVersionID}), a)
}

// notified runs an operation trove-api completes itself (configuration groups, reset status) between Trove's
// dbaas.<event>.start and .end (end traits added), or .error with the failure's message.
func (a *API) notified(ctx context.Context, rc *requestContext, class string, traits map[string]any, fn func() (map[string]any, error)) error {
	nrc := startNotification(ctx, a.notify, rc.rpcContext(), class, traits)
	end, err := fn()
	var n notification.Serialized
	if len(nrc.Notification) == 0 || json.Unmarshal(nrc.Notification, &n) != nil {
		return err
	}
	if err != nil {
		a.notify.DBaaS(ctx, nrc, n, "error", map[string]any{"message": err.Error(), "exception": []string{err.Error()}})
		return err
	}
	a.notify.DBaaS(ctx, nrc, n, "end", end)
	return nil
}
