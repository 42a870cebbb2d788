package datastore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
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

// RunStream runs a backup or restore tool with stdin and stdout streamed (either may be nil) and returns an
// error carrying the end of its stderr when it fails. Tools run as the agent's user (or c.RunAs).
func RunStream(ctx context.Context, c Command, stdin io.Reader, stdout io.Writer) error {
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.RunAs, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	cmd.Stdin, cmd.Stdout = stdin, stdout
	var stderr tailBuffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", filepath.Base(c.Path), err, stderr.String())
	}
	return nil
}

// tailBuffer keeps the last 2 KiB written to it (a tool's stderr can be long; its end says why it failed).
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = append(t.b[:0], t.b[len(t.b)-2048:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return strings.TrimSpace(string(t.b)) }

// restoreRecord is <state>/restore.json: the chain being (Done=false) or already (Done=true) restored, so a
// prepare resumed after an agent restart redoes an interrupted restore and skips a finished one.
type restoreRecord struct {
	Chain []string `json:"chain"`
	Done  bool     `json:"done"`
}

func restorePath(l Layout) string { return filepath.Join(l.State(), "restore.json") }

// BeginRestore checks the chain, and readies an empty data directory for it. It returns done=true when this
// very chain was restored already (nothing to do). A data directory holding anything else than an interrupted
// restore of this guest is refused: Restore never overwrites a database.
func BeginRestore(l Layout, chain []BackupRef) (done bool, err error) {
	if len(chain) == 0 {
		return false, Errorf(KindBadRequest, "restore: no backup given")
	}
	ids := make([]string, len(chain))
	for i, r := range chain {
		if err := CheckBackupID(r.ID); err != nil {
			return false, err
		}
		ids[i] = r.ID
	}
	var rec restoreRecord
	if b, err := os.ReadFile(restorePath(l)); err == nil {
		if json.Unmarshal(b, &rec) == nil && rec.Done && slices.Equal(rec.Chain, ids) {
			return true, nil
		}
		// an interrupted restore (or one of another chain that failed): its leftovers go
		if err := ClearDir(l.Data()); err != nil {
			return false, err
		}
	} else {
		entries, err := os.ReadDir(l.Data())
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, err
		}
		if len(entries) > 0 {
			return false, Errorf(KindBadRequest, "restore: the data directory %s is not empty", l.Data())
		}
	}
	b, _ := json.Marshal(restoreRecord{Chain: ids})
	if err := WriteFileAtomic(restorePath(l), b, 0o600); err != nil {
		return false, err
	}
	if err := os.RemoveAll(l.Scratch()); err != nil {
		return false, err
	}
	return false, os.MkdirAll(l.Scratch(), 0o700)
}

// EndRestore records the outcome: success marks the chain done; failure empties the data directory (so no
// half-restored database is ever started) and keeps the record, so a retry starts afresh. The scratch
// directory goes either way.
func EndRestore(l Layout, chain []BackupRef, failed error) error {
	scratchErr := os.RemoveAll(l.Scratch())
	if failed != nil {
		_ = ClearDir(l.Data())
		return failed
	}
	ids := make([]string, len(chain))
	for i, r := range chain {
		ids[i] = r.ID
	}
	b, _ := json.Marshal(restoreRecord{Chain: ids, Done: true})
	if err := WriteFileAtomic(restorePath(l), b, 0o600); err != nil {
		return err
	}
	return scratchErr
}

// ClearDir removes everything inside dir (dir stays).
func ClearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// PrivateTree makes every file under dir unreadable to others (restored files keep the modes a tool gave
// them) and, with cred, gives them to the service user.
func PrivateTree(dir string, cred *syscall.Credential) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if mode := info.Mode().Perm(); mode&0o077 != 0 {
			if err := os.Chmod(p, mode&0o700); err != nil {
				return err
			}
		}
		if cred != nil {
			return os.Lchown(p, int(cred.Uid), int(cred.Gid))
		}
		return nil
	})
}
