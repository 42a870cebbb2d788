// Package datastore is the guest agent's datastore seam: the Manager interface every datastore implements
// (mysql covers the mysql and mariadb managers, postgresql the postgresql manager), the service statuses it
// reports, and what the implementations share: the supervised server process, the data-directory volume and
// its size limit, pagination and typed errors.
package datastore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/trove-go/trove/pkg/guestapi"
)

// Status is a heartbeat service status description (states.md §1.2).
type Status string

// Statuses the guest reports.
const (
	Healthy       Status = "healthy"
	Running       Status = "running" // process up, not answering queries yet
	Blocked       Status = "blocked" // data directory over its volume size
	Shutdown      Status = "shutdown"
	Crashed       Status = "crashed"
	Building      Status = "building"
	FailedToSpawn Status = "failed to spawn"
	Upgrading     Status = "upgrading"
	Unknown       Status = "unknown"
)

// PrepareSpec is what Prepare needs from the prepare RPC.
type PrepareSpec struct {
	MemoryMB int
}

// Manager is one datastore's implementation. Methods are safe for concurrent use; lifecycle methods
// (Prepare, Start, Stop, Restart) are serialized by the caller. Names arrive unvalidated: implementations
// validate with guestapi.Rules and quote every identifier and literal.
type Manager interface {
	// Prepare initializes the data directory (once) and starts the server; safe to repeat.
	Prepare(ctx context.Context, spec PrepareSpec) error
	Status(ctx context.Context) Status
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Restart(ctx context.Context) error

	CreateDatabases(ctx context.Context, dbs []guestapi.Schema) error
	ListDatabases(ctx context.Context, a guestapi.ListArgs) (guestapi.DatabasePage, error)
	DeleteDatabase(ctx context.Context, db guestapi.Schema) error

	CreateUsers(ctx context.Context, users []guestapi.User) error
	ListUsers(ctx context.Context, a guestapi.ListArgs) (guestapi.UserPage, error)
	GetUser(ctx context.Context, name, host string) (*guestapi.User, error)
	DeleteUser(ctx context.Context, name, host string) error
	UpdateAttributes(ctx context.Context, name, host string, attrs guestapi.UserAttrs) error
	ChangePasswords(ctx context.Context, users []guestapi.PasswordChange) error
	ListAccess(ctx context.Context, name, host string) ([]guestapi.Schema, error)
	GrantAccess(ctx context.Context, name, host string, dbs []string) error
	RevokeAccess(ctx context.Context, name, host, db string) error

	// EnableRoot creates or resets the root user with password (generated when empty) and returns it.
	EnableRoot(ctx context.Context, password string) (guestapi.User, error)
	DisableRoot(ctx context.Context) error
	IsRootEnabled(ctx context.Context) (bool, error)

	VolumeStats(ctx context.Context) (guestapi.FilesystemStats, error)

	// WriteOverrides renders the configuration overrides into the file the server reads at start (replacing
	// earlier ones); the running server is not touched.
	WriteOverrides(values map[string]string) error
	// ApplyOverrides sets values in the running server and returns the names in reset to their defaults, at
	// once where the server allows it; it returns the names that still wait for a restart.
	ApplyOverrides(ctx context.Context, values map[string]string, reset []string) (restart []string, err error)

	// BackupFormat names the native stream Backup writes ("xbstream" for MariaDB, "tar" for PostgreSQL): the
	// extension of the stored object before compression.
	BackupFormat() string
	// Backup streams the datastore's native backup of the running server into w (uncompressed: the caller
	// compresses and checksums; nothing is copied to disk). parent is nil for a full backup; for an incremental
	// it names a backup this guest made earlier (its record is in the state directory). id must be a new backup's
	// id: what a later incremental on top of this one needs is recorded under it. Backup fails when w does.
	Backup(ctx context.Context, w io.Writer, id string, parent *BackupRef) error
	// Restore rebuilds the data directory from a chain of backups (full first, then each incremental in order),
	// before the server first starts (prepare with backup_info), from the streams alone: it needs no record of
	// the backups and works on a brand-new instance. It starts the server once to finish recovery and make the
	// admin account this guest's, then stops it; Prepare then starts it as usual. A stream of another datastore
	// is a KindBackupMismatch error, a truncated or corrupt one KindBackupIntegrity; either way the data
	// directory is left empty and no server runs.
	Restore(ctx context.Context, chain []BackupRef, open BackupOpener) error
}

// Error is a failure whose Kind is a trove.common.exception class name, so it survives the RPC wire.
type Error struct {
	Kind string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Error kinds.
const (
	KindBadRequest       = "BadRequest"
	KindUserNotFound     = "UserNotFound"
	KindDatabaseNotFound = "DatabaseNotFound"
	KindOverQuota        = "VolumeSizeExceedsLimit"
	KindNotRunning       = "GuestError"
)

// Errorf returns an *Error of kind.
func Errorf(kind, format string, a ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, a...)}
}

// KindOf returns err's kind, "" for other errors.
func KindOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// Paginate applies Trove's guest pagination to items sorted by key: skip up to the marker (inclusive unless
// includeMarker), return at most limit items and the key of the last one when more remain.
func Paginate[T any](items []T, key func(T) string, a guestapi.ListArgs) guestapi.Page[T] {
	start := 0
	if a.Marker != nil && *a.Marker != "" {
		m := *a.Marker
		for start < len(items) && (key(items[start]) < m || (!a.IncludeMarker && key(items[start]) == m)) {
			start++
		}
	}
	items = items[start:]
	var next *string
	if a.Limit != nil && *a.Limit > 0 && len(items) > *a.Limit {
		items = items[:*a.Limit]
		k := key(items[len(items)-1])
		next = &k
	}
	return guestapi.Page[T]{Items: items, NextMarker: next}
}

// Options configure a Manager.
type Options struct {
	Manager     string // mysql, mariadb, postgresql
	Layout      Layout
	BindHost    string
	Port        int
	BinDir      string // [local] server_bin_dir
	IgnoreUsers []string
	IgnoreDBs   []string
	Volume      *Volume
	Log         *logrus.Entry
	// StartTimeout bounds waiting for a started server to answer (state_change_wait_time).
	StartTimeout time.Duration
	// ArchiveTimeout (PostgreSQL, point-in-time recovery): the longest a committed transaction waits before
	// its WAL segment is archived on an idle server ([postgresql] archive_timeout; 0 = PostgreSQL's default,
	// never).
	ArchiveTimeout time.Duration
	// LogRetention (MariaDB, point-in-time recovery): a shipped binary log file older than this is purged
	// from the volume ([mariadb] binlog_local_retention; 0 = as soon as it is shipped).
	LogRetention time.Duration
}

// Ignored reports whether name is in list.
func Ignored(list []string, name string) bool {
	for _, n := range list {
		if n == name {
			return true
		}
	}
	return false
}
