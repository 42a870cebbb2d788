package mysql

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// Point-in-time recovery for MariaDB: with PITR on (Options.ArchiveTimeout > 0) the binary log is always
// written (the replication marker), the current file is closed (FLUSH BINARY LOGS) at least every
// ArchiveTimeout, and the agent ships each closed file (agent/pitr.go). A restore to a time restores the
// chain, then replays the source's shipped binary log from the backup's binlog position up to the target
// (mariadb-binlog --stop-datetime, whole seconds, UTC) before the restored server is first used.

var binlogFile = regexp.MustCompile(`^mariadb-bin\.[0-9]{6,}$`)

func (m *Manager) pitrOn() bool { return m.opts.ArchiveTimeout > 0 }

// pitrInit turns the binary log on before the first start when PITR is on.
func (m *Manager) pitrInit() error {
	if !m.pitrOn() {
		return nil
	}
	if _, err := os.Stat(m.binlogMarker()); err == nil {
		return nil
	}
	if err := os.MkdirAll(m.opts.Layout.State(), 0o700); err != nil {
		return err
	}
	return datastore.WriteFileAtomic(m.binlogMarker(), []byte("log_bin\n"), 0o600)
}

func (m *Manager) binlogShippedMark() string {
	return filepath.Join(m.opts.Layout.State(), "binlog_shipped")
}
func (m *Manager) binlogFlushed() string {
	return filepath.Join(m.opts.Layout.State(), "binlog_flushed")
}

// ArchivedLogs closes the current binary log when it is older than ArchiveTimeout and lists the closed files
// not yet shipped, oldest first.
func (m *Manager) ArchivedLogs() ([]datastore.LogFile, error) {
	if st, err := os.Stat(m.binlogFlushed()); m.pitrOn() && (err != nil || time.Since(st.ModTime()) >= m.opts.ArchiveTimeout) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := m.exec(ctx, "FLUSH BINARY LOGS")
		cancel()
		if err != nil {
			return nil, err
		}
		_ = datastore.WriteFileAtomic(m.binlogFlushed(), nil, 0o600)
	}
	idx, err := os.ReadFile(filepath.Join(m.opts.Layout.Data(), "mariadb-bin.index"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	mark := ""
	if b, err := os.ReadFile(m.binlogShippedMark()); err == nil {
		mark = strings.TrimSpace(string(b))
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(idx)), "\n") {
		if name := filepath.Base(strings.TrimSpace(line)); binlogFile.MatchString(name) {
			names = append(names, name)
		}
	}
	var out []datastore.LogFile
	for i, name := range names {
		if i == len(names)-1 || name <= mark { // the last one is being written
			continue
		}
		p := filepath.Join(m.opts.Layout.Data(), name)
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		out = append(out, datastore.LogFile{Name: name, Path: p, Time: st.ModTime()})
	}
	return out, nil
}

// LogsShipped records the last binary log file in the store, then purges the shipped files older than
// LogRetention from the volume (else the binary log grows until the volume is full).
func (m *Manager) LogsShipped(name string) error {
	if name == "" {
		return nil
	}
	if err := datastore.WriteFileAtomic(m.binlogShippedMark(), []byte(name+"\n"), 0o600); err != nil {
		return err
	}
	if err := m.purgeShipped(name); err != nil {
		m.opts.Log.WithError(err).Warn("the shipped binary log stays on the volume; purged again after the next file is shipped")
	}
	return nil
}

// purgeShipped purges the binary log up to the newest file that is shipped (at or before shipped) and older
// than LogRetention. PURGE BINARY LOGS keeps a file a connected replica still reads (and every later one); a
// replica disconnected longer than the retention may have to be rebuilt.
func (m *Manager) purgeShipped(shipped string) error {
	idx, err := os.ReadFile(filepath.Join(m.opts.Layout.Data(), "mariadb-bin.index"))
	if err != nil {
		return nil // no binary log
	}
	cutoff := time.Now().Add(-m.opts.LogRetention)
	keepFrom := ""
	for _, line := range strings.Split(strings.TrimSpace(string(idx)), "\n") {
		name := filepath.Base(strings.TrimSpace(line))
		if !binlogFile.MatchString(name) || name > shipped {
			continue
		}
		st, err := os.Stat(filepath.Join(m.opts.Layout.Data(), name))
		if err != nil || st.ModTime().After(cutoff) {
			break // files are in order: the later ones are newer
		}
		keepFrom = nextBinlog(name)
	}
	if keepFrom == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.exec(ctx, "PURGE BINARY LOGS TO '"+keepFrom+"'"); err != nil {
		return fmt.Errorf("purging the shipped binary log before %s: %w", keepFrom, err)
	}
	return nil
}

// nextBinlog names the binary log file after name.
func nextBinlog(name string) string {
	base, num, _ := strings.Cut(name, ".")
	n, _ := strconv.Atoi(num)
	return fmt.Sprintf("%s.%0*d", base, len(num), n+1)
}

// RestoreToTime restores the chain and replays the source's shipped binary log up to target.
func (m *Manager) RestoreToTime(ctx context.Context, chain []datastore.BackupRef, open datastore.BackupOpener, target time.Time, fetch datastore.LogFetcher) error {
	return m.restore(ctx, chain, open, func(ctx context.Context) error { return m.replayBinlog(ctx, target, fetch) })
}

// binlogEvent is mariadb-binlog's event header line: "#261206  3:04:05 server id …".
var binlogEvent = regexp.MustCompile(`(?m)^#(\d{6} [ \d]\d:\d\d:\d\d) server id`)

// replayBinlog fetches the source's binary log from the restored backup's position and applies it up to
// target on the restored server (started without networking, as os_admin over the socket).
func (m *Manager) replayBinlog(ctx context.Context, target time.Time, fetch datastore.LogFetcher) error {
	l := m.opts.Layout
	info, err := os.ReadFile(m.restoredBinlogInfo())
	f := strings.Fields(string(info))
	if err != nil || len(f) < 2 || !binlogFile.MatchString(f[0]) {
		return datastore.Errorf(datastore.KindBackupIntegrity, "the backup has no binary log position (made without the binary log): it cannot be restored to a time")
	}
	dir := filepath.Join(l.Scratch(), "binlog")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	n, err := fetch(ctx, dir, nil, f[0], nextBinlog)
	if err != nil {
		return err
	}
	if n == 0 {
		return datastore.Errorf(datastore.KindBackupIntegrity, "no binary log of the backup's instance from %s on is in the backup store: point-in-time recovery needs binary log shipping on that instance", f[0])
	}
	var files []string
	for name := f[0]; ; name = nextBinlog(name) {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			break
		}
		files = append(files, filepath.Join(dir, name))
	}
	tool, err := m.bin("mariadb-binlog")
	if err != nil {
		return err
	}
	stop := target.UTC().Format("2006-01-02 15:04:05")
	// reached: the shipped log's last event (the Rotate written when its last file was closed) is at or after
	// the target
	allFile := filepath.Join(l.Scratch(), "all.sql")
	if err := decodeBinlog(ctx, tool, allFile, files); err != nil {
		return err
	}
	end, err := lastEventTime(allFile)
	if err != nil {
		return err
	}
	if end.Before(target.UTC().Truncate(time.Second)) {
		return datastore.Errorf(datastore.KindBackupIntegrity, "restore_time %s is after the last shipped binary log of the backup's instance: the recoverable window ends at %s",
			target.UTC().Format(time.RFC3339), end.Format(time.RFC3339))
	}
	sqlFile := filepath.Join(l.Scratch(), "replay.sql")
	if err := decodeBinlog(ctx, tool, sqlFile, append([]string{"--start-position=" + f[1], "--stop-datetime=" + stop}, files...)); err != nil {
		return err
	}
	return m.applySQL(ctx, sqlFile)
}

// lastEventTime is the latest event header time of a decoded binary log (UTC).
func lastEventTime(file string) (time.Time, error) {
	f, err := os.Open(file)
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	var last time.Time
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		mt := binlogEvent.FindSubmatch(sc.Bytes())
		if mt == nil {
			continue
		}
		date, clock, _ := strings.Cut(string(mt[1]), " ")
		if t, err := time.Parse("060102 15:04:05", date+" "+strings.TrimSpace(clock)); err == nil && t.After(last) {
			last = t
		}
	}
	return last, sc.Err()
}

// decodeBinlog runs mariadb-binlog (times in UTC) with args into the file out.
func decodeBinlog(ctx context.Context, tool, out string, args []string) error {
	cmd := exec.CommandContext(ctx, tool, append([]string{"--no-defaults", "--result-file=" + out}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
	if msg, err := cmd.CombinedOutput(); err != nil {
		return datastore.Errorf(datastore.KindBackupIntegrity, "decoding the shipped binary log: %v: %s", err, strings.TrimSpace(string(msg)))
	}
	return nil
}

// applySQL starts the restored server without networking, feeds file to the mariadb client as os_admin and
// stops the server.
func (m *Manager) applySQL(ctx context.Context, file string) error {
	pw, err := datastore.Secret(m.adminFile())
	if err != nil {
		return err
	}
	cnf := filepath.Join(m.opts.Layout.State(), "replay.cnf")
	if err := datastore.WriteFileAtomic(cnf, []byte(fmt.Sprintf("[client]\nuser = %s\npassword = %s\nsocket = %s\n", adminUser, pw, m.socket())), 0o600); err != nil {
		return err
	}
	defer os.Remove(cnf)
	client, err := m.bin("mariadb")
	if err != nil {
		return err
	}
	c, err := m.serverCommand()
	if err != nil {
		return err
	}
	c.Args = append(c.Args, "--skip-networking")
	m.closeAdmin()
	stop, last, err := m.startLocal(ctx, c)
	if err != nil {
		return err
	}
	defer stop()
	if last != nil {
		return datastore.Errorf(datastore.KindBackupIntegrity, "the restored server did not start for the binary log replay (see %s): %v", c.LogFile, last)
	}
	in, err := os.Open(file)
	if err != nil {
		return err
	}
	defer in.Close()
	var out strings.Builder
	if err := datastore.RunStream(ctx, datastore.Command{Path: client, Args: []string{"--defaults-file=" + cnf, "--binary-mode"}}, bufio.NewReader(in), &out); err != nil {
		return datastore.Errorf(datastore.KindBackupIntegrity, "replaying the binary log: %v %s", err, out.String())
	}
	m.opts.Log.Info("binary log replayed to the restore time")
	return nil
}
