package mysql

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// MariaDB GTID replication (Trove's mariadb_gtid strategy): every server writes a binary log with a server_id
// of its own; a source has a replication account (os_repl); a replica follows its source with
// CHANGE MASTER TO … MASTER_USE_GTID = slave_pos from the GTID its seed backup was taken at, and is read-only
// (read_only: tenant accounts cannot write; os_admin, with READ_ONLY ADMIN, still can).

const replUser = "os_repl"

// ReplicationSource is datastore.ReplicationSource (GTID: a MariaDB GTID list).
type ReplicationSource = datastore.ReplicationSource

var _ datastore.Replicator = (*Manager)(nil)

func (m *Manager) replSecretFile() string {
	return filepath.Join(m.opts.Layout.State(), "os_repl.secret")
}

// replicaMarker records that this server is a replica, so it starts read-only after a restart too.
func (m *Manager) replicaMarker() string { return filepath.Join(m.opts.Layout.State(), "replica") }

// serverID is the instance's server_id: from its address and port (unique per instance on a host and across
// the loopback addresses of the local driver), never 0.
func (m *Manager) serverID() uint32 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s:%d", m.opts.BindHost, m.opts.Port)
	return h.Sum32()%4294967294 + 1
}

// binlogMarker records that this server takes part in replication: it writes a binary log from then on.
func (m *Manager) binlogMarker() string { return filepath.Join(m.opts.Layout.State(), "binlog") }

// replicationSettings: every server has a server_id of its own; a server that is or was in a replication set
// writes a binary log (turned on by the first EnableAsSource or AttachReplica, with one restart). Unlike
// Trove's template, a server that never replicates writes none: the log costs disk and a write per commit.
func (m *Manager) replicationSettings() map[string]string {
	s := map[string]string{"server_id": fmt.Sprint(m.serverID())}
	if _, err := os.Stat(m.binlogMarker()); err == nil {
		s["log_bin"], s["binlog_format"], s["log_slave_updates"] = "mariadb-bin", "ROW", "ON"
	}
	if _, err := os.Stat(m.replicaMarker()); err == nil {
		s["read_only"] = "ON"
	}
	return s
}

// ensureBinlog turns the binary log on (a restart) unless it is on already.
func (m *Manager) ensureBinlog(ctx context.Context) error {
	db, err := m.admin()
	if err != nil {
		return err
	}
	var on int
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.log_bin").Scan(&on); err != nil {
		return redact(err)
	}
	if on == 1 {
		return nil
	}
	if err := datastore.WriteFileAtomic(m.binlogMarker(), []byte("log_bin\n"), 0o600); err != nil {
		return err
	}
	m.opts.Log.Info("restarting with the binary log on for replication")
	return m.Restart(ctx)
}

// EnableAsSource makes sure the replication account exists and returns how to follow this server, at its
// current GTID position. Repeatable.
func (m *Manager) EnableAsSource(ctx context.Context) (ReplicationSource, error) {
	if err := m.ensureBinlog(ctx); err != nil {
		return ReplicationSource{}, err
	}
	pw, err := datastore.KeptSecret(m.replSecretFile())
	if err != nil {
		return ReplicationSource{}, err
	}
	if err := m.execSecret(ctx, "CREATE OR REPLACE USER ?@'%' IDENTIFIED BY ?", replUser, pw); err != nil {
		return ReplicationSource{}, fmt.Errorf("creating the replication account: %w", err)
	}
	if err := m.exec(ctx, "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO ?@'%'", replUser); err != nil {
		return ReplicationSource{}, fmt.Errorf("granting replication: %w", err)
	}
	gtid, err := m.LatestTxnID(ctx)
	if err != nil {
		return ReplicationSource{}, err
	}
	return ReplicationSource{Host: m.opts.BindHost, Port: m.opts.Port, User: replUser, Password: pw, GTID: gtid}, nil
}

func (m *Manager) restoredBinlogInfo() string {
	return filepath.Join(m.opts.Layout.State(), "restored_binlog_info")
}

// keepRestoredBinlogInfo copies mariabackup's binlog position file of an unpacked backup into the state
// directory (--move-back leaves it behind); none is fine (a backup of a server without a binary log).
func (m *Manager) keepRestoredBinlogInfo(dir string) error {
	for _, name := range []string{"mariadb_backup_binlog_info", "xtrabackup_binlog_info"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		return datastore.WriteFileAtomic(m.restoredBinlogInfo(), b, 0o600)
	}
	return nil
}

// RestoredGTID is the GTID position of the backup this server's data was restored from (mariabackup's
// binlog info: "<file> <position> <gtid>"); "" when there is none.
func (m *Manager) RestoredGTID() (string, error) {
	b, err := os.ReadFile(m.restoredBinlogInfo())
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if f := strings.Fields(string(b)); len(f) >= 3 {
		return f[2], checkGTID(f[2])
	}
	return "", nil
}

var gtidList = regexp.MustCompile(`^([0-9]+-[0-9]+-[0-9]+)(,[0-9]+-[0-9]+-[0-9]+)*$`)

func checkGTID(g string) error {
	if g != "" && !gtidList.MatchString(g) {
		return datastore.Errorf(datastore.KindBadRequest, "%q is not a MariaDB GTID position", g)
	}
	return nil
}

// AttachReplica makes this server a read-only replica of src. CHANGE MASTER takes no placeholders, so every
// value is checked to need no quoting (an IP address, a plain account name and password, a GTID list).
func (m *Manager) AttachReplica(ctx context.Context, src ReplicationSource) error {
	addr, err := src.Address()
	if err != nil {
		return err
	}
	if err := checkGTID(src.GTID); err != nil {
		return err
	}
	if err := m.ensureBinlog(ctx); err != nil { // a replica logs too: it may be promoted
		return err
	}
	if err := m.MakeReadOnly(ctx, true); err != nil {
		return err
	}
	// Already following this source (a repeated call, a resumed build): nothing to do — pointing it at an
	// older position again would replay what it applied.
	if st, err := m.slaveStatus(ctx); err == nil && st != nil && st["Master_Host"] == addr.String() &&
		st["Master_Port"] == strconv.Itoa(src.Port) && st["Slave_IO_Running"] == "Yes" && st["Slave_SQL_Running"] == "Yes" {
		return nil
	}
	if err := m.exec(ctx, "STOP SLAVE"); err != nil {
		return err
	}
	if src.GTID != "" {
		if err := m.exec(ctx, "SET GLOBAL gtid_slave_pos = ?", src.GTID); err != nil {
			return fmt.Errorf("setting gtid_slave_pos: %w", err)
		}
	}
	q := fmt.Sprintf("CHANGE MASTER TO MASTER_HOST = '%s', MASTER_PORT = %d, MASTER_USER = '%s', MASTER_PASSWORD = '%s', "+
		"MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 5", addr, src.Port, src.User, src.Password)
	if err := m.execSecret(ctx, q); err != nil { // never in a general log a tenant can publish
		return fmt.Errorf("pointing the replica at %s:%d: %w", addr, src.Port, err)
	}
	if err := m.exec(ctx, "START SLAVE"); err != nil {
		return fmt.Errorf("starting replication: %w", err)
	}
	m.opts.Log.WithField("source", fmt.Sprintf("%s:%d", addr, src.Port)).WithField("gtid", src.GTID).Info("replicating from source")
	return nil
}

// DetachReplica stops replication for good and makes the server writable (a standalone instance or a new
// source). Repeatable.
func (m *Manager) DetachReplica(ctx context.Context) error {
	if err := m.exec(ctx, "STOP SLAVE"); err != nil {
		return err
	}
	if err := m.exec(ctx, "RESET SLAVE ALL"); err != nil {
		return err
	}
	return m.MakeReadOnly(ctx, false)
}

// MakeReadOnly switches read_only now and for the next starts.
func (m *Manager) MakeReadOnly(ctx context.Context, on bool) error {
	if on {
		if err := datastore.WriteFileAtomic(m.replicaMarker(), []byte("read_only\n"), 0o600); err != nil {
			return err
		}
	} else if err := os.Remove(m.replicaMarker()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if _, err := m.writeConfig(); err != nil {
		return err
	}
	return m.exec(ctx, "SET GLOBAL read_only = ?", map[bool]string{true: "ON", false: "OFF"}[on])
}

// LatestTxnID is the server's GTID position (what it wrote and what it applied as a replica).
func (m *Manager) LatestTxnID(ctx context.Context) (string, error) {
	db, err := m.admin()
	if err != nil {
		return "", err
	}
	var g string
	err = db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_current_pos").Scan(&g)
	return g, redact(err)
}

// WaitForTxn waits until this replica has applied gtid (MASTER_GTID_WAIT), at most timeout.
func (m *Manager) WaitForTxn(ctx context.Context, gtid string, timeout time.Duration) error {
	if err := checkGTID(gtid); err != nil {
		return err
	}
	db, err := m.admin()
	if err != nil {
		return err
	}
	var r int
	if err := db.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", gtid, timeout.Seconds()).Scan(&r); err != nil {
		return redact(err)
	}
	if r != 0 {
		return fmt.Errorf("replica did not reach GTID %s within %s", gtid, timeout)
	}
	return nil
}

// ReplicaRunning reports whether both replication threads run, and the last error when not.
func (m *Manager) ReplicaRunning(ctx context.Context) (bool, string, error) {
	st, err := m.slaveStatus(ctx)
	if err != nil || st == nil {
		return false, "not a replica", err
	}
	running := st["Slave_IO_Running"] == "Yes" && st["Slave_SQL_Running"] == "Yes"
	msg := strings.TrimSpace(st["Last_IO_Error"] + " " + st["Last_SQL_Error"])
	return running, msg, nil
}

// slaveStatus is SHOW SLAVE STATUS by column name (NULL as ""); nil when the server is no replica.
func (m *Manager) slaveStatus(ctx context.Context) (map[string]string, error) {
	db, err := m.admin()
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return nil, redact(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]any, len(cols))
	raw := make([][]byte, len(cols))
	for i := range vals {
		vals[i] = &raw[i]
	}
	if err := rows.Scan(vals...); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(cols))
	for i, c := range cols {
		out[c] = string(raw[i])
	}
	return out, rows.Err()
}
