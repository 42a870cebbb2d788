package taskapi

import (
	"context"
	"errors"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// Trove's taskmanager methods of backups.
const (
	MethodCreateBackup = "create_backup"
	MethodDeleteBackup = "delete_backup"
)

// CreateBackupArgs is create_backup: the API has written the backup row (state NEW); the taskmanager hands
// backup_info to the instance's guest and watches the backup end.
type CreateBackupArgs struct {
	BackupInfo guestapi.BackupInfo `json:"backup_info"`
	InstanceID string              `json:"instance_id"`
}

// Validate checks the instance and backup_info.
func (a CreateBackupArgs) Validate() error {
	err := validID("instance_id", a.InstanceID)
	if a.BackupInfo.InstanceID != a.InstanceID {
		err = errors.Join(err, errors.New("backup_info instance_id differs from instance_id"))
	}
	return errors.Join(err, a.BackupInfo.Validate())
}

// DeleteBackupArgs is delete_backup: remove the stored object, then the row.
type DeleteBackupArgs struct {
	BackupID string `json:"backup_id"`
}

// Validate checks the backup id.
func (a DeleteBackupArgs) Validate() error { return validID("backup_id", a.BackupID) }

// CreateBackup casts create_backup.
func (c *Client) CreateBackup(ctx context.Context, rc rpc.Context, a CreateBackupArgs) error {
	return c.cast(ctx, rc, MethodCreateBackup, a)
}

// DeleteBackup casts delete_backup.
func (c *Client) DeleteBackup(ctx context.Context, rc rpc.Context, a DeleteBackupArgs) error {
	return c.cast(ctx, rc, MethodDeleteBackup, a)
}
