package datastore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// BackupRef names one backup of a chain: a full backup, or an incremental on top of its parent.
type BackupRef struct {
	ID string // the backup's id (Trove's backup UUID)
}

// BackupOpener streams the i-th backup of a restore chain (its native stream, as Backup wrote it).
type BackupOpener func(ctx context.Context, i int) (io.ReadCloser, error)

// Backup error kinds (trove.common.exception class names).
const (
	// KindBackupMismatch: the stream given to Restore is not a backup of this datastore.
	KindBackupMismatch = "BackupDatastoreMismatchError"
	// KindBackupIntegrity: the stream is of this datastore but truncated or corrupt, or the chain is broken.
	KindBackupIntegrity = "RestoreBackupIntegrityError"
	// KindBackupCreation: a backup could not be made (e.g. the parent of an incremental is unknown here).
	KindBackupCreation = "BackupCreationError"
)

var backupID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// CheckBackupID refuses ids that could not safely name a file in the state directory.
func CheckBackupID(id string) error {
	if !backupID.MatchString(id) {
		return Errorf(KindBadRequest, "invalid backup id %q", id)
	}
	return nil
}

// BackupMetaDir is where the guest keeps what it needs to make an incremental on top of a backup it made:
// <state>/backups/<id>/ (0700).
func (l Layout) BackupMetaDir(id string) string { return filepath.Join(l.State(), "backups", id) }

// Scratch is a directory on the data volume for work the agent does beside the server (a restore's unpacked
// streams): same filesystem as Data, inside the instance's layout, removed when the work ends.
func (l Layout) Scratch() string { return filepath.Join(l.Root, "scratch") }

// SaveBackupMeta records v as <state>/backups/<id>/meta.json (0600).
func SaveBackupMeta(l Layout, id string, v any) error {
	if err := CheckBackupID(id); err != nil {
		return err
	}
	dir := l.BackupMetaDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, "meta.json"), b, 0o600)
}

// LoadBackupMeta reads what SaveBackupMeta recorded for the parent of an incremental; a backup this guest did
// not make (or whose record is gone) is a KindBackupCreation error naming it.
func LoadBackupMeta(l Layout, id string, v any) error {
	if err := CheckBackupID(id); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(l.BackupMetaDir(id), "meta.json"))
	if errors.Is(err, os.ErrNotExist) {
		return Errorf(KindBackupCreation, "parent backup %s was not made by this guest (no record of it); make a full backup", id)
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("backup record %s: %w", id, err)
	}
	return nil
}
