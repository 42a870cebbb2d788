package handlers

import (
	"context"
	"encoding/json"
	"time"

	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/conductorapi"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
)

// BackupReporter sends a backup's progress to the conductor's update_backup (conductorapi.Client).
type BackupReporter interface {
	UpdateBackup(ctx context.Context, rc rpc.Context, a conductorapi.UpdateBackupArgs) error
}

// classBackupCreate is Trove's notification class of a backup: a failure is reported as the instance's fault
// (why the backup FAILED: the tool's or the store's own words).
const classBackupCreate = "trove.common.notification.DBaaSBackupCreate"

// create_backup — cast. Payload logged (backup_info holds no secret; the user's token travels in the context,
// which is never logged). Progress goes to the conductor: BUILDING, then COMPLETED with size, checksum,
// location and (ours) the content manifest restore drills check the restore against, or FAILED. Not resumed:
// a backup interrupted by an agent restart is reported FAILED at start (FailInterruptedBackup) and the store
// keeps no partial object.
// Write: applied alone in sending order, so a later message sees the backup finished; rpc_ping and
// get_filesystem_stats still answer meanwhile.
func (h *Handlers) registerCreateBackup(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodCreateBackup, order: rpc.Write, logArgs: true, notify: true, fault: classBackupCreate},
		func(ctx context.Context, rc rpc.Context, a guestapi.CreateBackupArgs) (void, error) {
			ctx = context.WithoutCancel(ctx)
			info := a.BackupInfo
			state := status.BackupBuilding
			h.reportBackup(ctx, rc, conductorapi.UpdateBackupArgs{BackupID: info.ID, State: &state})
			creds := backupstore.Credentials{StorageURL: info.SwiftURL, Token: rc.AuthToken}
			obj, err := h.Agent.CreateBackup(ctx, info, creds)
			if err != nil {
				failed := status.BackupFailed
				h.reportBackup(ctx, rc, conductorapi.UpdateBackupArgs{BackupID: info.ID, State: &failed})
				return void{}, err
			}
			done, size, typ := status.BackupCompleted, float64(obj.Size)/(1<<30), info.BackupType
			checksum, location := obj.MD5, obj.Location
			h.reportBackup(ctx, rc, conductorapi.UpdateBackupArgs{BackupID: info.ID, State: &done, Size: &size,
				BackupType: &typ, Checksum: &checksum, Location: &location, ContentManifest: h.contentManifest(ctx, info.ID)})
			return void{}, nil
		})
}

// contentManifest is the instance's tables now, as update_backup's content_manifest; nil (none sent: the
// backup's drills then do not check its contents) when they cannot be listed.
func (h *Handlers) contentManifest(ctx context.Context, backupID string) *string {
	c, err := h.Agent.Contents(ctx, false)
	if err == nil {
		var b []byte
		if b, err = json.Marshal(c.Manifest); err == nil {
			s := string(b)
			return &s
		}
	}
	h.Log.WithError(err).WithField("backup_id", backupID).Warn("no content manifest for the backup: its restore drills will not check its tables")
	return nil
}

// reportBackup sends update_backup for this instance, stamped now (the conductor drops older updates).
func (h *Handlers) reportBackup(ctx context.Context, rc rpc.Context, a conductorapi.UpdateBackupArgs) {
	if h.Backups == nil {
		return
	}
	a.InstanceID = h.GuestID
	a.Sent = float64(time.Now().UnixNano()) / 1e9
	if err := h.Backups.UpdateBackup(ctx, rc, a); err != nil {
		h.Log.WithError(err).WithField("backup_id", a.BackupID).Error("update_backup not sent: the backup's state in the catalog is stale; the taskmanager's watch will settle it")
	}
}

// FailInterruptedBackup reports FAILED for a backup an earlier run of the agent did not finish (called once at
// start).
func (h *Handlers) FailInterruptedBackup(ctx context.Context) {
	if id := h.Agent.InterruptedBackup(); id != "" {
		failed := status.BackupFailed
		h.Log.WithField("backup_id", id).Warn("a backup was interrupted by an agent restart: reported FAILED")
		h.reportBackup(ctx, rpc.Context{}, conductorapi.UpdateBackupArgs{BackupID: id, State: &failed})
	}
}
