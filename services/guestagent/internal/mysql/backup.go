package mysql

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// xbstreamMagic starts every chunk of an xbstream (mariadb-backup --stream=xbstream).
const xbstreamMagic = "XBSTCK01"

// BackupFormat: mariadb-backup's xbstream.
func (m *Manager) BackupFormat() string { return "xbstream" }

// backupMeta is what an incremental on top of a backup needs: the InnoDB LSN the backup ends at.
type backupMeta struct {
	ToLSN uint64 `json:"to_lsn"`
}

// backupConfig writes <state>/backup.cnf (0600) for mariadb-backup: the server's own option file (InnoDB
// settings the backup must match), then the os_admin credentials and the socket, so the password is never on
// a command line.
func (m *Manager) backupConfig() (string, error) {
	pw, err := datastore.Secret(m.adminFile())
	if err != nil {
		return "", fmt.Errorf("os_admin credentials: %w", err)
	}
	if _, err := m.writeConfig(); err != nil {
		return "", err
	}
	cnf := filepath.Join(m.opts.Layout.State(), "backup.cnf")
	body := fmt.Sprintf("!include %s\n[mariadb-backup]\nuser = %s\npassword = %s\nsocket = %s\n",
		m.configFile(), adminUser, pw, m.socket())
	return cnf, datastore.WriteFileAtomic(cnf, []byte(body), 0o600)
}

// Backup streams `mariadb-backup --backup --stream=xbstream` of the running server into w, as os_admin over
// the socket (Trove's MariaBackup runner). An incremental (parent set) is `--incremental-lsn` from the LSN the
// parent ended at, recorded by this guest when it made the parent (Trove keeps it as the backup's "lsn"
// metadata); each backup records its own end LSN (--extra-lsndir) under its id.
func (m *Manager) Backup(ctx context.Context, w io.Writer, id string, parent *datastore.BackupRef) error {
	l := m.opts.Layout
	if err := datastore.CheckBackupID(id); err != nil {
		return err
	}
	var from backupMeta
	if parent != nil {
		if err := datastore.LoadBackupMeta(l, parent.ID, &from); err != nil {
			return err
		}
	}
	bin, err := m.bin("mariadb-backup")
	if err != nil {
		return fmt.Errorf("%w (install the mariadb-backup package)", err)
	}
	cnf, err := m.backupConfig()
	if err != nil {
		return err
	}
	defer os.Remove(cnf) // a copy of the os_admin password: kept only while the backup runs
	work := filepath.Join(l.Scratch(), "backup-"+id)
	if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(work)
	lsnDir := filepath.Join(work, "lsn")
	args := []string{"--defaults-file=" + cnf, "--backup", "--stream=xbstream",
		"--datadir=" + l.Data(), "--target-dir=" + work, "--tmpdir=" + work, "--extra-lsndir=" + lsnDir}
	if parent != nil {
		args = append(args, fmt.Sprintf("--incremental-lsn=%d", from.ToLSN))
	}
	if err := datastore.RunStream(ctx, datastore.Command{Path: bin, Args: args}, nil, w); err != nil {
		return datastore.Errorf(datastore.KindBackupCreation, "backup %s: %v", id, err)
	}
	cp, err := readCheckpoints(lsnDir)
	if err != nil {
		return datastore.Errorf(datastore.KindBackupCreation, "backup %s: %v", id, err)
	}
	to, err := strconv.ParseUint(cp["to_lsn"], 10, 64)
	if err != nil {
		return datastore.Errorf(datastore.KindBackupCreation, "backup %s: bad to_lsn %q", id, cp["to_lsn"])
	}
	return datastore.SaveBackupMeta(l, id, backupMeta{ToLSN: to})
}

// readCheckpoints parses mariadb-backup's xtrabackup_checkpoints (backup_type, from_lsn, to_lsn, …).
func readCheckpoints(dir string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "xtrabackup_checkpoints"))
	if err != nil {
		return nil, fmt.Errorf("no xtrabackup_checkpoints: %w", err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out, nil
}

// Restore unpacks each xbstream (`mbstream -x`) into the scratch directory (same volume as the data), prepares
// the full backup and applies each incremental in order (`mariadb-backup --prepare [--incremental-dir]`),
// moves the result into the empty data directory (`--move-back`), then starts the server once with an
// init-file that (re)creates os_admin with this guest's password — the restored mysql.user holds the source
// instance's — and stops it. Every other account, root included, is the source's, as in Trove.
func (m *Manager) Restore(ctx context.Context, chain []datastore.BackupRef, open datastore.BackupOpener) error {
	return m.restore(ctx, chain, open, nil)
}

// restore is Restore; then, when set, replay runs on the adopted data directory before the restore is
// recorded done (pitr.go), its failure emptying it like any other.
func (m *Manager) restore(ctx context.Context, chain []datastore.BackupRef, open datastore.BackupOpener, replay func(context.Context) error) (err error) {
	l := m.opts.Layout
	if err := l.Make(nil); err != nil {
		return err
	}
	done, err := datastore.BeginRestore(l, chain)
	if err != nil || done {
		return err
	}
	defer func() { err = datastore.EndRestore(l, chain, err) }()
	mbstream, err := m.bin("mbstream")
	if err != nil {
		return fmt.Errorf("%w (install the mariadb-backup package)", err)
	}
	backup, err := m.bin("mariadb-backup")
	if err != nil {
		return fmt.Errorf("%w (install the mariadb-backup package)", err)
	}
	dirs := make([]string, len(chain))
	var lastTo string
	for i, ref := range chain {
		dirs[i] = filepath.Join(l.Scratch(), fmt.Sprint(i))
		if err := m.unpack(ctx, mbstream, dirs[i], i, open); err != nil {
			return err
		}
		cp, err := readCheckpoints(dirs[i])
		if err != nil {
			return datastore.Errorf(datastore.KindBackupIntegrity, "backup %s: incomplete stream (%v)", ref.ID, err)
		}
		switch want := map[bool]string{true: "full-backuped", false: "incremental"}[i == 0]; {
		case cp["backup_type"] != want:
			return datastore.Errorf(datastore.KindBackupIntegrity, "backup %s is %q where the chain needs %q", ref.ID, cp["backup_type"], want)
		case i > 0 && cp["from_lsn"] != lastTo:
			return datastore.Errorf(datastore.KindBackupIntegrity, "backup %s starts at LSN %s, its parent ends at %s: not its parent", ref.ID, cp["from_lsn"], lastTo)
		}
		lastTo = cp["to_lsn"]
	}
	for i := range chain {
		args := []string{"--no-defaults", "--prepare", "--target-dir=" + dirs[0], "--tmpdir=" + l.Scratch()}
		if i > 0 {
			args = append(args, "--incremental-dir="+dirs[i])
		}
		if err := datastore.RunStream(ctx, datastore.Command{Path: backup, Args: args}, nil, nil); err != nil {
			return datastore.Errorf(datastore.KindBackupIntegrity, "preparing backup %s: %v", chain[i].ID, err)
		}
	}
	// The binary log position the last backup of the chain was taken at (a replica follows its source from it).
	if err := m.keepRestoredBinlogInfo(dirs[len(dirs)-1]); err != nil {
		return err
	}
	if err := datastore.RunStream(ctx, datastore.Command{Path: backup, Args: []string{"--no-defaults", "--move-back",
		"--target-dir=" + dirs[0], "--datadir=" + l.Data()}}, nil, nil); err != nil {
		return fmt.Errorf("moving the restored files into place: %w", err)
	}
	if err := datastore.PrivateTree(l.Data(), nil); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(l.Data(), "mysql")); err != nil {
		return datastore.Errorf(datastore.KindBackupIntegrity, "the restored backup has no mysql system database")
	}
	if err := m.adoptRestored(ctx); err != nil || replay == nil {
		return err
	}
	return replay(ctx)
}

// startLocal starts the server with c and waits until os_admin answers over the socket: last is the final
// failure when it never did. stop stops it.
func (m *Manager) startLocal(ctx context.Context, c datastore.Command) (stop func(), last error, err error) {
	if err := m.Proc.Start(c); err != nil {
		return nil, nil, err
	}
	stop = func() { m.closeAdmin(); _ = m.Proc.Stop(60 * time.Second) }
	timeout := m.opts.StartTimeout
	if timeout <= 0 {
		timeout = 180 * time.Second
	}
	ok := datastore.WaitFor(m.Proc, timeout, 100*time.Millisecond, func() bool {
		db, err := m.admin()
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err = db.ExecContext(pctx, "SELECT 1")
			cancel()
		}
		if last = err; err != nil {
			m.closeAdmin()
		}
		return err == nil
	})
	if !ok && last == nil {
		last = errors.New("the server exited")
	}
	if ok {
		last = nil
	}
	return stop, last, nil
}

// unpack streams backup i through mbstream -x into dir, refusing a stream that is no xbstream.
func (m *Manager) unpack(ctx context.Context, mbstream, dir string, i int, open datastore.BackupOpener) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	rc, err := open(ctx, i)
	if err != nil {
		return err
	}
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 64<<10)
	head, _ := r.Peek(len(xbstreamMagic))
	if string(head) != xbstreamMagic {
		return datastore.Errorf(datastore.KindBackupMismatch, "backup %d of the chain is not a MariaDB backup (no xbstream: %s)", i, describe(head))
	}
	if err := datastore.RunStream(ctx, datastore.Command{Path: mbstream, Args: []string{"-x", "-C", dir}}, r, nil); err != nil {
		return datastore.Errorf(datastore.KindBackupIntegrity, "backup %d of the chain is truncated or corrupt: %v", i, err)
	}
	return nil
}

// describe names what a stream starts with, for a refusal.
func describe(head []byte) string {
	switch {
	case len(head) == 0:
		return "empty stream"
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "gzip data: decompress first"
	}
	return fmt.Sprintf("starts with %q", head)
}

// adoptRestored starts the restored server once, without networking, with an init-file making os_admin this
// guest's (the password kept in the state directory), checks os_admin can log in, and stops it.
func (m *Manager) adoptRestored(ctx context.Context) error {
	pw, err := datastore.Secret(m.adminFile())
	if err != nil {
		pw = datastore.GeneratePassword(36)
		if err := datastore.WriteSecret(m.adminFile(), pw); err != nil {
			return err
		}
	}
	m.closeAdmin()
	// GeneratePassword's alphabet is [A-Za-z0-9]: nothing to escape inside the quotes.
	init := filepath.Join(m.opts.Layout.State(), "restore-init.sql")
	sql := fmt.Sprintf("CREATE OR REPLACE USER '%s'@'localhost' IDENTIFIED BY '%s';\nGRANT ALL PRIVILEGES ON *.* TO '%s'@'localhost' WITH GRANT OPTION;\n",
		adminUser, pw, adminUser)
	if err := datastore.WriteFileAtomic(init, []byte(sql), 0o600); err != nil {
		return err
	}
	defer os.Remove(init)
	c, err := m.serverCommand()
	if err != nil {
		return err
	}
	c.Args = append(c.Args, "--init-file="+init, "--skip-networking")
	stop, last, err := m.startLocal(ctx, c)
	if err != nil {
		return err
	}
	defer stop()
	if last != nil {
		return datastore.Errorf(datastore.KindBackupIntegrity, "the restored server did not start with os_admin (see %s): %v",
			c.LogFile, last)
	}
	m.opts.Log.Info("restored data directory adopted: os_admin is this guest's")
	return nil
}
