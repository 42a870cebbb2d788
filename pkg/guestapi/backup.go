package guestapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/trove-go/trove/pkg/rpc"
)

// Backup types, as Trove's backups.backup_type column and backup_info carry them.
const (
	BackupFull        = "full"
	BackupIncremental = "incremental"
)

// BackupParent is backup_info's parent of an incremental: Trove sends location and checksum; we add the id (the
// guest keeps what an incremental needs under the parent's id).
type BackupParent struct {
	ID       string `json:"id,omitempty"`
	Location string `json:"location"`
	Checksum string `json:"checksum"`
}

// BackupInfo is create_backup's backup_info (Trove's B.5): built by the API, the taskmanager adds swift_url.
type BackupInfo struct {
	ID               string        `json:"id"`
	Name             string        `json:"name"`
	Description      *string       `json:"description"`
	InstanceID       string        `json:"instance_id"`
	BackupType       string        `json:"backup_type"`
	Checksum         *string       `json:"checksum"`
	Parent           *BackupParent `json:"parent"`
	Datastore        string        `json:"datastore"`
	DatastoreVersion string        `json:"datastore_version"`
	StorageDriver    string        `json:"storage_driver"`
	SwiftContainer   *string       `json:"swift_container"`
	SwiftURL         string        `json:"swift_url,omitempty"`
}

var backupIDRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// Validate checks what the guest uses to name files and objects.
func (b BackupInfo) Validate() error {
	var errs []error
	if !backupIDRe.MatchString(b.ID) {
		errs = append(errs, fmt.Errorf("backup_info id %q is not a backup id", b.ID))
	}
	switch b.BackupType {
	case BackupFull:
		if b.Parent != nil {
			errs = append(errs, errors.New("backup_info: a full backup has no parent"))
		}
	case BackupIncremental:
		if b.Parent == nil || !backupIDRe.MatchString(b.Parent.ID) || b.Parent.Location == "" {
			errs = append(errs, errors.New("backup_info: an incremental backup needs its parent's id and location"))
		}
	default:
		errs = append(errs, fmt.Errorf("backup_info backup_type %q is neither full nor incremental", b.BackupType))
	}
	return errors.Join(errs...)
}

// CreateBackupArgs is the guest's create_backup (cast; progress goes to the conductor's update_backup).
type CreateBackupArgs struct {
	BackupInfo BackupInfo `json:"backup_info"`
}

// Validate checks backup_info.
func (a CreateBackupArgs) Validate() error { return a.BackupInfo.Validate() }

// RestoreLink is one backup of a restore chain.
type RestoreLink struct {
	ID       string `json:"id"`
	Location string `json:"location"`
	Checksum string `json:"checksum"`
}

// RestoreInfo is prepare's backup_info (Trove: id, instance_id, location, type, checksum, storage_driver,
// swift_url). Chain is ours: every backup to apply, the full one first and this one last (Trove's guest finds
// the parents through Swift object metadata instead).
type RestoreInfo struct {
	ID            string        `json:"id"`
	InstanceID    string        `json:"instance_id"`
	Location      string        `json:"location"`
	Type          string        `json:"type"`
	Checksum      string        `json:"checksum"`
	StorageDriver string        `json:"storage_driver"`
	SwiftURL      string        `json:"swift_url,omitempty"`
	Datastore     string        `json:"datastore,omitempty"`
	Chain         []RestoreLink `json:"chain"`
	// RestoreTime (ours, RFC 3339): replay the source instance's (InstanceID) shipped transaction log after
	// the chain up to this time (point-in-time recovery); "" restores the backup as it is.
	RestoreTime string `json:"restore_time,omitempty"`
}

// Map is r as prepare's backup_info dict.
func (r RestoreInfo) Map() map[string]any {
	b, _ := json.Marshal(r)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// ParseRestoreInfo reads prepare's backup_info; a chain that does not end with the backup itself, or a link
// without a location, is refused.
func ParseRestoreInfo(m map[string]any) (RestoreInfo, error) {
	var r RestoreInfo
	b, err := json.Marshal(m)
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	if err != nil {
		return r, fmt.Errorf("backup_info: %w", err)
	}
	if len(r.Chain) == 0 {
		r.Chain = []RestoreLink{{ID: r.ID, Location: r.Location, Checksum: r.Checksum}}
	}
	for _, l := range r.Chain {
		if !backupIDRe.MatchString(l.ID) || l.Location == "" {
			return r, fmt.Errorf("backup_info: chain entry %q has no id or location", l.ID)
		}
	}
	if last := r.Chain[len(r.Chain)-1]; last.ID != r.ID {
		return r, fmt.Errorf("backup_info: the chain ends with %s, not with backup %s", last.ID, r.ID)
	}
	return r, nil
}

// CreateBackup casts create_backup.
func (c *Client) CreateBackup(ctx context.Context, rc rpc.Context, a CreateBackupArgs) error {
	return c.cast(ctx, rc, MethodCreateBackup, a)
}
