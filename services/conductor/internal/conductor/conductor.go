// Package conductor implements trove-conductor's RPC endpoint (rpc.md §B.4): guests report heartbeats, root
// enablement, notifications and backup progress; the conductor writes them to the catalog. Unlike Trove, a
// message's instance_id must be the authenticated sender, and a keyed instance cannot send plaintext.
package conductor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/conductorapi"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/notification"
	"github.com/trove-go/trove/pkg/rpc"
)

// Conductor holds the handlers' dependencies.
type Conductor struct {
	Catalog *catalog.DB
	// WrapKey is [DEFAULT] inst_rpc_key_encr_key, which unwraps instances.encrypted_key.
	WrapKey string
	Log     logrus.FieldLogger
	// Notify emits the dbaas.<event>.end|error notifications guests forward (notify_end, notify_exc_info) on
	// their behalf, as Trove's conductor does; nil emits nothing.
	Notify *notification.Notifier

	spoofed   atomic.Uint64
	plaintext atomic.Uint64
	peers     sync.Map         // instance id → rpc.Envelope of its last accepted message
	beats     [3]atomic.Uint64 // heartbeats applied since the last LogHeartbeats line, by envelopeKinds
}

// Codec is the conductor server's codec: ConductorHostCodec with keys from the catalog; it tells the conductor
// the envelope of every message it accepts (peer lines, heartbeat counts).
func (c *Conductor) Codec() rpc.Codec {
	h := rpc.ConductorHostCodec(c.Lookup)
	h.Accepted = c.accepted
	return h
}

// Lookup returns an instance's keys and envelope (rpc.Lookup): the unwrapped instances.encrypted_key (deleted
// rows included: late messages still decrypt), the rpc_peers envelope and a previous key during a rotation.
// A NULL key is a legacy plaintext instance.
func (c *Conductor) Lookup(ctx context.Context, id string) (rpc.PeerKeys, error) {
	p, err := c.Catalog.InstancePeer(ctx, c.WrapKey, id)
	if errors.Is(err, catalog.ErrNotFound) {
		return rpc.PeerKeys{}, rpc.ErrUnknownInstance
	}
	return p.RPC(), err
}

// Register adds the conductor methods to srv.
func (c *Conductor) Register(srv *rpc.Server) {
	rpc.Register(srv, conductorapi.MethodHeartbeat, c.heartbeat)
	rpc.Register(srv, conductorapi.MethodReportRoot, c.reportRoot)
	rpc.Register(srv, conductorapi.MethodNotifyEnd, c.notifyEnd)
	rpc.Register(srv, conductorapi.MethodNotifyExcInfo, c.notifyExcInfo)
	rpc.Register(srv, conductorapi.MethodUpdateBackup, c.updateBackup)
}

// authorize checks that a message about instanceID comes from that instance: an authenticated sender must be
// the instance itself, and a plaintext message may only name an instance without a key.
func (c *Conductor) authorize(ctx context.Context, rc rpc.Context, method, instanceID string) error {
	log := c.Log.WithField("method", method).WithField("instance_id", instanceID)
	if rc.SenderInstanceID != "" {
		if rc.SenderInstanceID != instanceID {
			c.spoofed.Add(1)
			log.WithField("sender", rc.SenderInstanceID).Warn("rejected: instance_id is not the authenticated sender")
			return fmt.Errorf("instance %s may not report for instance %s", rc.SenderInstanceID, instanceID)
		}
		return nil
	}
	enc, err := c.Catalog.EncryptedKey(ctx, instanceID)
	if err != nil {
		return err
	}
	if enc != "" {
		c.plaintext.Add(1)
		log.Warn("rejected: plaintext message naming a keyed instance")
		return fmt.Errorf("plaintext %s for keyed instance %s", method, instanceID)
	}
	return nil
}

func sentPtr(s float64) *float64 {
	if s == 0 {
		return nil // Trove accepts a missing sent (logged)
	}
	return &s
}

func (c *Conductor) heartbeat(ctx context.Context, rc rpc.Context, a conductorapi.HeartbeatArgs) (rpc.Void, error) {
	if err := c.authorize(ctx, rc, conductorapi.MethodHeartbeat, a.InstanceID); err != nil {
		return rpc.Void{}, err
	}
	accepted, err := c.Catalog.Heartbeat(ctx, a.InstanceID, a.Payload.ServiceStatus, sentPtr(a.Sent))
	if err != nil {
		return rpc.Void{}, err
	}
	c.Log.WithField("instance_id", a.InstanceID).WithField("status", a.Payload.ServiceStatus).
		WithField("accepted", accepted).Debug("heartbeat")
	if accepted && a.Payload.Health != nil {
		h := a.Payload.Health
		if err := c.Catalog.SetHealth(ctx, catalog.Health{InstanceID: a.InstanceID, Up: h.Up, Connections: h.Connections, ReplicationLag: h.ReplicationLag}); err != nil {
			c.Log.WithField("instance_id", a.InstanceID).WithError(err).Warn("the guest's reported health was not recorded")
		}
	}
	if accepted {
		env, _ := c.peers.Load(a.InstanceID)
		e, _ := env.(rpc.Envelope)
		c.beats[envelopeKind(e)].Add(1)
	}
	return rpc.Void{}, nil
}

func (c *Conductor) reportRoot(ctx context.Context, rc rpc.Context, a conductorapi.ReportRootArgs) (rpc.Void, error) {
	if err := c.authorize(ctx, rc, conductorapi.MethodReportRoot, a.InstanceID); err != nil {
		return rpc.Void{}, err
	}
	return rpc.Void{}, c.Catalog.RecordRoot(ctx, a.InstanceID, rc.UserID)
}

func notificationInstance(n map[string]any) string {
	s, _ := n["instance_id"].(string)
	return s
}

func (c *Conductor) notifyEnd(ctx context.Context, rc rpc.Context, a conductorapi.NotifyEndArgs) (rpc.Void, error) {
	c.Log.WithField("notification", a.SerializedNotification["notification_classname"]).
		WithField("sender", rc.SenderInstanceID).WithField("request_id", rc.RequestID).Info("notification end")
	if id := notificationInstance(a.SerializedNotification); id != "" && rc.SenderInstanceID != "" && id != rc.SenderInstanceID {
		c.spoofed.Add(1)
		return rpc.Void{}, fmt.Errorf("instance %s may not end notifications of instance %s", rc.SenderInstanceID, id)
	}
	c.Notify.DBaaS(ctx, rc, notification.Serialized(a.SerializedNotification), "end", a.NotificationArgs)
	return rpc.Void{}, nil
}

func (c *Conductor) notifyExcInfo(ctx context.Context, rc rpc.Context, a conductorapi.NotifyExcInfoArgs) (rpc.Void, error) {
	id := notificationInstance(a.SerializedNotification)
	if id == "" {
		id = rc.SenderInstanceID
	}
	log := c.Log.WithField("notification", a.SerializedNotification["notification_classname"]).WithField("instance_id", id)
	log.WithField("message", a.Message).Warn("notification error")
	if id == "" {
		return rpc.Void{}, nil
	}
	if err := c.authorize(ctx, rc, conductorapi.MethodNotifyExcInfo, id); err != nil {
		return rpc.Void{}, err
	}
	c.Notify.DBaaS(ctx, rc, notification.Serialized(a.SerializedNotification), "error",
		map[string]any{"message": a.Message, "exception": a.Exception, "instance_id": id})
	return rpc.Void{}, c.Catalog.SaveFault(ctx, id, a.Message, strings.Join(a.Exception, ""))
}

// updateBackup is Trove's: the too-old check, then every backups column the guest sent. The backup must be
// one of the sending instance's (authorize binds the instance to the message's key, so a guest cannot touch
// another instance's backup), and a location must name this backup's object.
func (c *Conductor) updateBackup(ctx context.Context, rc rpc.Context, a conductorapi.UpdateBackupArgs) (rpc.Void, error) {
	if err := c.authorize(ctx, rc, conductorapi.MethodUpdateBackup, a.InstanceID); err != nil {
		return rpc.Void{}, err
	}
	log := c.Log.WithField("instance_id", a.InstanceID).WithField("backup_id", a.BackupID)
	b, err := c.Catalog.GetBackup(ctx, a.BackupID)
	if errors.Is(err, catalog.ErrNotFound) {
		log.Warn("update_backup for an unknown or deleted backup: dropped")
		return rpc.Void{}, nil
	}
	if err != nil {
		return rpc.Void{}, err
	}
	if b.InstanceID != a.InstanceID {
		log.WithField("owner", b.InstanceID).Warn("update_backup for another instance's backup: refused")
		return rpc.Void{}, rpc.Errorf("NotFound", "backup %s is not a backup of instance %s", a.BackupID, a.InstanceID)
	}
	if a.Location != nil && *a.Location != "" && !strings.HasPrefix(path.Base(*a.Location), a.BackupID) {
		log.Warn("update_backup with a location that is not this backup's object: refused")
		return rpc.Void{}, rpc.Errorf("BadRequest", "location %q does not name backup %s", *a.Location, a.BackupID)
	}
	if a.Sent != 0 {
		fresh, err := c.Catalog.MessageIsFresh(ctx, a.InstanceID, conductorapi.MethodUpdateBackup, a.Sent)
		if err != nil || !fresh {
			return rpc.Void{}, err
		}
	}
	u := catalog.BackupUpdate{State: a.State, Size: a.Size, BackupType: a.BackupType, Checksum: a.Checksum, Location: a.Location}
	if a.ContentManifest != nil {
		// ours: kept only when it is a manifest (re-encoded); a bad one costs the backup its drill content check
		if m, err := contentManifest(*a.ContentManifest); err != nil {
			log.WithError(err).Warn("update_backup with an unusable content_manifest: not stored")
		} else {
			u.ContentManifest = &m
		}
	}
	if err := c.Catalog.UpdateBackup(ctx, a.BackupID, u); err != nil {
		return rpc.Void{}, err
	}
	if a.State != nil {
		log = log.WithField("state", *a.State)
	}
	log.Info("backup updated")
	return rpc.Void{}, nil
}

// maxContentManifest bounds a stored content manifest (the column is a MEDIUMTEXT).
const maxContentManifest = 4 << 20

// contentManifest checks that s is a guestapi.ContentManifest's JSON — {database: [table, ...]}, no empty
// name — and returns it re-encoded.
func contentManifest(s string) (string, error) {
	if len(s) > maxContentManifest {
		return "", fmt.Errorf("%d bytes, more than %d", len(s), maxContentManifest)
	}
	var m guestapi.ContentManifest
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		return "", fmt.Errorf("not a JSON object of table lists: %v", err)
	}
	for db, tables := range m {
		if db == "" || slices.Contains(tables, "") {
			return "", errors.New("an empty database or table name")
		}
	}
	b, err := json.Marshal(m)
	return string(b), err
}
