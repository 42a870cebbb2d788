package datastore

import (
	"context"
	"time"
)

// LogFile is a finished transaction-log file in the local archive (a PostgreSQL WAL segment or timeline
// history file): it may be shipped to the backup store for point-in-time recovery.
type LogFile struct {
	Name string    // its name in the archive (and, prefixed, in the store)
	Path string    // where it is on the volume
	Time time.Time // when it was archived: no transaction in it committed later
}

// LogFetcher copies the shipped transaction log of a backup's source instance into dir: the files named
// extra when the store has them, then first, next(first), … up to the first one the store does not have. It
// returns how many files of the sequence it copied.
type LogFetcher func(ctx context.Context, dir string, extra []string, first string, next func(string) string) (int, error)

// LogArchiver is a datastore whose transaction log is archived continuously (point-in-time recovery).
type LogArchiver interface {
	// ArchivedLogs lists the finished log files of the local archive not yet recorded as shipped, oldest first.
	ArchivedLogs() ([]LogFile, error)
	// LogsShipped records that every log file up to name is in the store: only those may be pruned locally.
	LogsShipped(name string) error
	// RestoreToTime is Restore ending recovery at target: fetch brings the source's shipped log, and a target
	// that log does not reach is a KindBackupIntegrity fault (nothing started, the data directory emptied).
	RestoreToTime(ctx context.Context, chain []BackupRef, open BackupOpener, target time.Time, fetch LogFetcher) error
}
