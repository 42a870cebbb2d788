package postgresql

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// Point-in-time recovery: the agent ships the WAL archive (backup.go's wal_archive) to the backup store
// (agent/pitr.go) and records here the last segment shipped; archived segments after it are kept locally
// whatever a full backup prunes. A restore to a time replays the base backup, its incrementals and the source
// instance's shipped WAL up to recovery_target_time and promotes there.

// shippedMark is <root>/wal_shipped: the last WAL segment in the store (written by the shipping loop).
func (m *Manager) shippedMark() string { return filepath.Join(m.opts.Layout.Root, "wal_shipped") }

// shipped reports whether seg may leave the local archive: shipping is off (ArchiveTimeout is set only with
// it; a mark left from when it was on keeps nothing), or seg is in the store.
func (m *Manager) shipped(seg string) bool {
	if m.opts.ArchiveTimeout <= 0 {
		return true
	}
	b, err := os.ReadFile(m.shippedMark())
	if err != nil {
		return true
	}
	return seg <= strings.TrimSpace(string(b))
}

// pitrArgs: archive_timeout forces a segment switch on an idle server, so what was committed reaches the
// archive (and the store) within that time.
func (m *Manager) pitrArgs() []string {
	if m.opts.ArchiveTimeout <= 0 {
		return nil
	}
	return []string{"-c", fmt.Sprintf("archive_timeout=%d", int(m.opts.ArchiveTimeout.Seconds()))}
}

// ArchivedLogs lists the archived WAL segments after the last shipped one and every timeline history file,
// oldest first (history files first: they are small and a restore on a later timeline needs them).
func (m *Manager) ArchivedLogs() ([]datastore.LogFile, error) {
	entries, err := os.ReadDir(m.archiveDir())
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	mark := ""
	if b, err := os.ReadFile(m.shippedMark()); err == nil {
		mark = strings.TrimSpace(string(b))
	}
	var hist, segs []datastore.LogFile
	for _, e := range entries {
		name := e.Name()
		isSeg := walSegment.MatchString(name)
		if !isSeg && !walHistory.MatchString(name) || isSeg && name <= mark {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // pruned meanwhile
		}
		f := datastore.LogFile{Name: name, Path: filepath.Join(m.archiveDir(), name), Time: info.ModTime()}
		if isSeg {
			segs = append(segs, f)
		} else {
			hist = append(hist, f)
		}
	}
	less := func(a, b datastore.LogFile) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(hist, less)
	slices.SortFunc(segs, less)
	return append(hist, segs...), nil
}

// LogsShipped records seg as the last WAL segment in the store ("" turns shipping on with nothing shipped).
func (m *Manager) LogsShipped(seg string) error {
	if seg != "" && !walSegment.MatchString(seg) {
		return nil // a history file
	}
	if seg == "" {
		if _, err := os.Stat(m.shippedMark()); err == nil {
			return nil
		}
	}
	return datastore.WriteFileAtomic(m.shippedMark(), []byte(seg+"\n"), 0o600)
}

// pointInTime is a restore's target and where its WAL comes from.
type pointInTime struct {
	target time.Time
	fetch  datastore.LogFetcher
}

// RestoreToTime restores the chain, then replays the source instance's shipped WAL (fetched into the scratch
// WAL directory that restore_command reads) up to target and promotes the server there.
func (m *Manager) RestoreToTime(ctx context.Context, chain []datastore.BackupRef, open datastore.BackupOpener, target time.Time, fetch datastore.LogFetcher) error {
	return m.restore(ctx, chain, open, false, &pointInTime{target: target, fetch: fetch})
}

// fetchWAL copies the shipped WAL from the base backup's first segment on (and the history files of the later
// timelines) into dir.
func (pt *pointInTime) fetchWAL(ctx context.Context, dir, start string) error {
	var hist []string
	var tl uint32
	if _, err := fmt.Sscanf(start[:8], "%08X", &tl); err == nil {
		for t := tl; t <= tl+8; t++ {
			hist = append(hist, fmt.Sprintf("%08X.history", t))
		}
	}
	n, err := pt.fetch(ctx, dir, hist, start, nextSegment)
	if err != nil {
		return err
	}
	if n == 0 {
		return datastore.Errorf(datastore.KindBackupIntegrity, "no archived WAL of the backup's instance from segment %s on is in the backup store: point-in-time recovery needs WAL shipping ([postgresql] wal_ship_interval) on that instance", start)
	}
	return nil
}

// recoveryArgs stop recovery at the target time and promote there (the default action is pause).
func (pt *pointInTime) recoveryArgs() []string {
	if pt == nil {
		return nil
	}
	return []string{"-c", "recovery_target_time=" + pt.target.UTC().Format("2006-01-02 15:04:05.999999") + "+00",
		"-c", "recovery_target_action=promote"}
}

// notReached is the fault when the server stopped because the WAL ended before the target (PostgreSQL 13+
// refuses to promote then); nil otherwise.
func (pt *pointInTime) notReached(logFile string) error {
	if pt == nil {
		return nil
	}
	b, _ := os.ReadFile(logFile)
	if bytes.Contains(b, []byte("requested recovery stop point is before consistent recovery point")) {
		return datastore.Errorf(datastore.KindBackupIntegrity, "restore_time %s is before the backup was complete: choose a later time or an earlier backup", pt.target.UTC().Format(time.RFC3339))
	}
	if !bytes.Contains(b, []byte("recovery ended before configured recovery target was reached")) {
		return nil
	}
	return datastore.Errorf(datastore.KindBackupIntegrity, "restore_time %s is after the last shipped WAL of the backup's instance: the recoverable window ends earlier", pt.target.UTC().Format(time.RFC3339))
}
