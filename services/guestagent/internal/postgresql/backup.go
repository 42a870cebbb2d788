package postgresql

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// BackupFormat: a tar stream (pg_basebackup -Ft for a full backup, the archived WAL segments for an
// incremental).
func (m *Manager) BackupFormat() string { return "tar" }

var (
	walSegment = regexp.MustCompile(`^[0-9A-F]{24}$`)
	walHistory = regexp.MustCompile(`^[0-9A-F]{8}\.history$`)
)

// archiveDir is the WAL archive (archive_command copies each finished segment here): <root>/wal_archive, the
// service user's, on the data volume.
func (m *Manager) archiveDir() string { return filepath.Join(m.opts.Layout.Root, "wal_archive") }

// archiveArgs turns WAL archiving on (command line: a configuration group cannot turn it off) into the
// instance's own archive directory, as Trove's PostgreSQL guest does; incrementals are the segments archived
// since their parent.
func (m *Manager) archiveArgs() ([]string, error) {
	dir := m.archiveDir()
	if strings.ContainsAny(dir, `'\`) {
		return nil, fmt.Errorf("the data directory %q cannot hold a WAL archive (quote in its path)", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if m.cred != nil {
		if err := os.Chown(dir, int(m.cred.Uid), int(m.cred.Gid)); err != nil {
			return nil, err
		}
	}
	return append([]string{"-c", "archive_mode=on",
		// copied under a temporary name, then renamed: a reader of the archive never sees half a segment
		"-c", fmt.Sprintf("archive_command=test ! -f '%[1]s/%%f' && cp '%%p' '%[1]s/.%%f.tmp' && mv '%[1]s/.%%f.tmp' '%[1]s/%%f'", dir)}, m.pitrArgs()...), nil
}

// backupMeta is what an incremental on top of a backup needs: the first WAL segment it must carry.
type backupMeta struct {
	WALFrom string `json:"wal_from"`
}

// Backup streams a full backup (`pg_basebackup -D - -Ft -X fetch`, Trove's PgBasebackup, uncompressed) or an
// incremental: a tar of the archived WAL segments from the parent's last one to the segment switched now
// (Trove's PgBasebackupIncremental). After a full backup, archived segments older than it are removed.
func (m *Manager) Backup(ctx context.Context, w io.Writer, id string, parent *datastore.BackupRef) error {
	l := m.opts.Layout
	if err := datastore.CheckBackupID(id); err != nil {
		return err
	}
	standby, err := m.inRecovery(ctx)
	if err != nil {
		return datastore.Errorf(datastore.KindBackupCreation, "backup %s: %v", id, err)
	}
	if parent != nil {
		if standby {
			return datastore.Errorf(datastore.KindBackupCreation, "backup %s: an incremental backup of a replica is not possible (it writes no WAL of its own): make a full backup of it, or back up its source", id)
		}
		var from backupMeta
		if err := datastore.LoadBackupMeta(l, parent.ID, &from); err != nil {
			return err
		}
		to, err := m.switchWAL(ctx)
		if err != nil {
			return datastore.Errorf(datastore.KindBackupCreation, "backup %s: %v", id, err)
		}
		if err := m.writeWAL(w, from.WALFrom, to); err != nil {
			return datastore.Errorf(datastore.KindBackupCreation, "backup %s: %v", id, err)
		}
		return datastore.SaveBackupMeta(l, id, backupMeta{WALFrom: to})
	}
	start, err := m.currentSegment(ctx, standby)
	if err != nil {
		return datastore.Errorf(datastore.KindBackupCreation, "backup %s: current WAL segment: %v", id, err)
	}
	bin, err := m.bin("pg_basebackup")
	if err != nil {
		return err
	}
	args := []string{"-h", l.Run(), "-p", fmt.Sprint(m.opts.Port), "-U", adminUser, "-w",
		"-D", "-", "-Ft", "-X", "fetch", "--checkpoint=fast", "--label=" + id}
	if err := datastore.RunStream(ctx, datastore.Command{Path: bin, Args: args}, nil, w); err != nil {
		return datastore.Errorf(datastore.KindBackupCreation, "backup %s: %v", id, err)
	}
	if err := datastore.SaveBackupMeta(l, id, backupMeta{WALFrom: start}); err != nil {
		return err
	}
	m.pruneArchive(start)
	return nil
}

// currentSegment names the WAL segment being written — on a standby (pg_basebackup runs there too, Trove's
// replicas can be backed up), where pg_walfile_name cannot run, the one being replayed, on the timeline of the
// last restartpoint (an incremental on top checks the timeline and asks for a full backup if it moved).
func (m *Manager) currentSegment(ctx context.Context, standby bool) (string, error) {
	if !standby {
		rows, err := m.query(ctx, "postgres", "SELECT pg_walfile_name(pg_current_wal_lsn())")
		if err != nil || len(rows) != 1 || !walSegment.MatchString(rows[0][0]) {
			return "", fmt.Errorf("%v %v", rows, err)
		}
		return rows[0][0], nil
	}
	rows, err := m.query(ctx, "postgres", `SELECT timeline_id, (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint,
		pg_size_bytes(current_setting('wal_segment_size')) FROM pg_control_checkpoint()`)
	if err != nil || len(rows) != 1 || len(rows[0]) != 3 {
		return "", fmt.Errorf("%v %v", rows, err)
	}
	tli, err1 := strconv.ParseUint(rows[0][0], 10, 32)
	pos, err2 := strconv.ParseUint(rows[0][1], 10, 64)
	size, err3 := strconv.ParseUint(rows[0][2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || size == 0 {
		return "", fmt.Errorf("standby position %v: %v", rows[0], err)
	}
	seg, perID := pos/size, (uint64(1)<<32)/size
	return fmt.Sprintf("%08X%08X%08X", tli, seg/perID, seg%perID), nil
}

// switchWAL ends the current WAL segment and waits until it is archived; it returns its name.
func (m *Manager) switchWAL(ctx context.Context) (string, error) {
	rows, err := m.query(ctx, "postgres", "SELECT pg_walfile_name(pg_switch_wal())")
	if err != nil || len(rows) != 1 || !walSegment.MatchString(rows[0][0]) {
		return "", fmt.Errorf("switching WAL: %v %v", rows, err)
	}
	seg := rows[0][0]
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(m.archiveDir(), seg)); err == nil {
			return seg, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("WAL segment %s was not archived within 60 s (see %s)", seg, m.opts.Layout.Log())
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// writeWAL writes a tar of the timeline history files and of every segment from..to (all must be archived).
func (m *Manager) writeWAL(w io.Writer, from, to string) error {
	if from[:8] != to[:8] {
		return fmt.Errorf("the parent backup is on timeline %s, the server on %s: make a full backup", from[:8], to[:8])
	}
	names, err := os.ReadDir(m.archiveDir())
	if err != nil {
		return err
	}
	var files []string
	for _, e := range names {
		if walHistory.MatchString(e.Name()) {
			files = append(files, e.Name())
		}
	}
	for seg := from; seg <= to; seg = nextSegment(seg) {
		if _, err := os.Stat(filepath.Join(m.archiveDir(), seg)); err != nil {
			return fmt.Errorf("WAL segment %s since the parent backup is no longer archived: make a full backup", seg)
		}
		files = append(files, seg)
	}
	tw := tar.NewWriter(w)
	for _, name := range files {
		if err := addFile(tw, filepath.Join(m.archiveDir(), name), name); err != nil {
			return err
		}
	}
	return tw.Close()
}

func addFile(tw *tar.Writer, path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.CopyN(tw, f, st.Size())
	return err
}

// nextSegment names the WAL segment after seg (16 MB segments: 256 per log file).
func nextSegment(seg string) string {
	log, _ := strconv.ParseUint(seg[8:16], 16, 32)
	n, _ := strconv.ParseUint(seg[16:24], 16, 32)
	if n++; n > 0xFF {
		n, log = 0, log+1
	}
	return fmt.Sprintf("%s%08X%08X", seg[:8], log, n)
}

// pruneArchive removes archived segments (and backup history files) older than keep: no incremental on a
// backup before the newest full one can be made any more, which keeps the archive bounded.
func (m *Manager) pruneArchive(keep string) {
	entries, err := os.ReadDir(m.archiveDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if len(name) >= 24 && walSegment.MatchString(name[:24]) && name[:24] < keep && m.shipped(name[:24]) {
			_ = os.Remove(filepath.Join(m.archiveDir(), name))
		}
	}
}

// Restore extracts the full backup's tar into the empty data directory and each incremental's WAL segments into
// the scratch directory, then starts the server once in archive recovery (recovery.signal, restore_command
// reading the scratch WAL) until it has replayed everything and promoted itself to a writable server, and
// stops it. os_admin (the bootstrap superuser, trusted on the private socket) and every role with its password
// are the source's, as in Trove.
func (m *Manager) Restore(ctx context.Context, chain []datastore.BackupRef, open datastore.BackupOpener) error {
	return m.restore(ctx, chain, open, false, nil)
}

// RestoreReplicaSeed restores a replica's seed (a full backup of its source) to start as a standby of it: the
// extracted base backup with standby.signal, not recovered to a writable server (that would begin a timeline
// of its own, which the source's WAL cannot continue). The first start replays the backup's own WAL up to a
// consistent state and waits, read-only, for attach_replica to name its source.
func (m *Manager) RestoreReplicaSeed(ctx context.Context, chain []datastore.BackupRef, open datastore.BackupOpener) error {
	if len(chain) != 1 {
		return datastore.Errorf(datastore.KindBackupIntegrity, "a replica seed is one full backup, not a chain of %d", len(chain))
	}
	return m.restore(ctx, chain, open, true, nil)
}

func (m *Manager) restore(ctx context.Context, chain []datastore.BackupRef, open datastore.BackupOpener, standby bool, pt *pointInTime) (err error) {
	l := m.opts.Layout
	if err := l.Make(m.cred); err != nil {
		return err
	}
	done, err := datastore.BeginRestore(l, chain)
	if err != nil || done {
		return err
	}
	defer func() { err = datastore.EndRestore(l, chain, err) }()
	wal := filepath.Join(l.Scratch(), "wal")
	if err := os.MkdirAll(wal, 0o700); err != nil {
		return err
	}
	// start is the first segment replay needs; each incremental must begin at or before the end of its parent
	var start, end string
	for i, ref := range chain {
		files, err := m.extract(ctx, i, open, map[bool]string{true: l.Data(), false: wal}[i == 0])
		if err != nil {
			return err
		}
		if i == 0 {
			if start, err = m.checkBase(ref.ID, files); err != nil {
				return err
			}
			end = start
			for _, f := range files { // the WAL -X fetch put in the base backup
				if dir, seg := filepath.Split(f); dir == "pg_wal/" && walSegment.MatchString(seg) {
					end = max(end, seg)
				}
			}
			continue
		}
		segs := slices.DeleteFunc(slices.Clone(files), func(f string) bool { return !walSegment.MatchString(f) })
		if len(segs) != len(files)-countHistory(files) || len(segs) == 0 {
			return datastore.Errorf(datastore.KindBackupIntegrity, "backup %s is not an incremental (WAL segments) backup", ref.ID)
		}
		slices.Sort(segs)
		if segs[0] > nextSegment(end) {
			return datastore.Errorf(datastore.KindBackupIntegrity, "backup %s starts at WAL segment %s, after its parent's end %s: not its parent", ref.ID, segs[0], end)
		}
		for j := 1; j < len(segs); j++ {
			if segs[j] != nextSegment(segs[j-1]) {
				return datastore.Errorf(datastore.KindBackupIntegrity, "backup %s misses WAL between segments %s and %s", ref.ID, segs[j-1], segs[j])
			}
		}
		end = max(end, segs[len(segs)-1])
	}
	signal := map[bool]string{false: "recovery.signal", true: "standby.signal"}[standby]
	for _, f := range []string{"postmaster.pid", "standby.signal", "recovery.signal"} {
		_ = os.Remove(filepath.Join(l.Data(), f))
	}
	if err := os.WriteFile(filepath.Join(l.Data(), signal), nil, 0o600); err != nil {
		return err
	}
	if err := datastore.PrivateTree(l.Data(), m.cred); err != nil {
		return err
	}
	if standby {
		m.opts.Log.Info("replica seed restored: starts as a standby")
		return nil
	}
	if pt != nil { // pitr.go
		if err := pt.fetchWAL(ctx, wal, start); err != nil {
			return err
		}
	}
	if err := datastore.PrivateTree(l.Scratch(), m.cred); err != nil {
		return err
	}
	return m.recover(ctx, wal, pt)
}

func countHistory(files []string) int {
	n := 0
	for _, f := range files {
		if walHistory.MatchString(f) {
			n++
		}
	}
	return n
}

// checkBase checks the extracted full backup: a PostgreSQL base backup of this server's major version; it
// returns the WAL segment its replay starts at (backup_label).
func (m *Manager) checkBase(id string, files []string) (string, error) {
	d := m.opts.Layout.Data()
	ver, err := os.ReadFile(filepath.Join(d, "PG_VERSION"))
	if err != nil {
		if len(files) > 0 && (walSegment.MatchString(files[0]) || walHistory.MatchString(files[0])) {
			return "", datastore.Errorf(datastore.KindBackupIntegrity, "backup %s is an incremental (WAL) backup where the chain needs a full one", id)
		}
		return "", datastore.Errorf(datastore.KindBackupMismatch, "backup %s is not a PostgreSQL base backup (no PG_VERSION)", id)
	}
	if mine, err := m.majorVersion(); err == nil && strings.TrimSpace(string(ver)) != mine {
		return "", datastore.Errorf(datastore.KindBackupMismatch, "backup %s is of PostgreSQL %s, this guest runs %s", id, strings.TrimSpace(string(ver)), mine)
	}
	label, err := os.ReadFile(filepath.Join(d, "backup_label"))
	if err != nil {
		return "", datastore.Errorf(datastore.KindBackupIntegrity, "backup %s has no backup_label: not a base backup, or truncated", id)
	}
	if _, err := os.Stat(filepath.Join(d, "global", "pg_control")); err != nil {
		return "", datastore.Errorf(datastore.KindBackupIntegrity, "backup %s is truncated (no global/pg_control)", id)
	}
	mt := regexp.MustCompile(`START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)`).FindSubmatch(label)
	if mt == nil {
		return "", datastore.Errorf(datastore.KindBackupIntegrity, "backup %s: backup_label names no start WAL file", id)
	}
	return string(mt[1]), nil
}

// majorVersion is the server binaries' major version ("15").
func (m *Manager) majorVersion() (string, error) {
	bin, err := m.bin("postgres")
	if err != nil {
		return "", err
	}
	out, err := datastore.Run(datastore.Command{Path: bin, Args: []string{"-V"}})
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return "", errors.New("postgres -V: no version")
	}
	major, _, _ := strings.Cut(f[len(f)-1], ".")
	return major, nil
}

// extract unpacks backup i (a tar) into dir and returns the names of its regular files. Only regular files and
// directories inside dir are accepted; modes are made private.
func (m *Manager) extract(ctx context.Context, i int, open datastore.BackupOpener, dir string) ([]string, error) {
	rc, err := open(ctx, i)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 64<<10)
	head, _ := r.Peek(512)
	if len(head) < 512 || string(head[257:262]) != "ustar" {
		return nil, datastore.Errorf(datastore.KindBackupMismatch, "backup %d of the chain is not a PostgreSQL backup (no tar stream)", i)
	}
	tr := tar.NewReader(r)
	var files []string
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, datastore.Errorf(datastore.KindBackupIntegrity, "backup %d of the chain is truncated or corrupt: %v", i, err)
		}
		name := filepath.Clean(h.Name)
		if !filepath.IsLocal(name) {
			return nil, datastore.Errorf(datastore.KindBackupIntegrity, "backup %d of the chain holds a path outside the data directory: %q", i, h.Name)
		}
		path := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o700); err != nil {
				return nil, err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return nil, err
			}
			if err := writeFile(path, tr); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) {
					return nil, datastore.Errorf(datastore.KindBackupIntegrity, "backup %d of the chain is truncated: %v", i, err)
				}
				return nil, err
			}
			files = append(files, name)
		default:
			return nil, datastore.Errorf(datastore.KindBackupIntegrity, "backup %d of the chain holds %q of type %q (tablespaces are not supported)", i, h.Name, h.Typeflag)
		}
	}
}

func writeFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// recover starts the server in archive recovery from wal and waits until it has promoted itself (replayed all
// WAL, writable), then stops it.
func (m *Manager) recover(ctx context.Context, wal string, pt *pointInTime) error {
	if strings.ContainsAny(wal, `'\`) {
		return fmt.Errorf("the scratch directory %q cannot be quoted", wal)
	}
	c, err := m.serverCommand()
	if err != nil {
		return err
	}
	c.Args = append(c.Args, "-c", fmt.Sprintf("restore_command=cp '%s/%%f' '%%p'", wal),
		"-c", "recovery_target_timeline=latest", "-c", "listen_addresses=")
	c.Args = append(c.Args, pt.recoveryArgs()...)
	if err := m.Proc.Start(c); err != nil {
		return err
	}
	defer func() { _ = m.Proc.Stop(60 * time.Second) }()
	timeout := m.opts.StartTimeout
	if timeout <= 0 {
		timeout = 180 * time.Second
	}
	var last error
	ok := datastore.WaitFor(m.Proc, timeout, 200*time.Millisecond, func() bool {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		rows, err := m.query(qctx, "postgres", "SELECT pg_is_in_recovery()")
		if err == nil && (len(rows) != 1 || rows[0][0] != "f") {
			err = errors.New("still in recovery")
		}
		last = err
		return err == nil
	})
	if !ok {
		if err := pt.notReached(c.LogFile); err != nil {
			return err
		}
		return datastore.Errorf(datastore.KindBackupIntegrity, "the restored server did not finish recovery (see %s): %v", c.LogFile, last)
	}
	m.opts.Log.Info("restored data directory recovered and promoted")
	return nil
}
