package postgresql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// PostgreSQL streaming replication (Trove's postgresql streaming strategy): a source has a replication role
// (os_repl, REPLICATION LOGIN) that pg_hba admits to `replication` over TCP; a replica is a hot standby
// (standby.signal) streaming from its source with primary_conninfo through a physical replication slot of its
// own on the source (created by the replica at attach), read-only by nature. Detach promotes it (pg_promote).
// Positions are WAL locations (LSN): pg_current_wal_lsn on a source, the furthest of the received and replayed
// WAL on a standby.
//
// make_read_only on a source demotes it: a clean (fast) shutdown, whose shutdown checkpoint the walsenders
// send to the standbys before they exit, and a start as a standby that follows nothing. A standby writes no
// WAL, so a replica that has replayed the demoted source's last LSN and is promoted forks its new timeline
// after everything the old source wrote, and the old source can follow it (attach_replica) without pg_rewind.
// (default_transaction_read_only alone would not do: a source keeps writing WAL — checkpoints, standby
// snapshots, its shutdown checkpoint — past the position the new source forks at.)

const replUser = "os_repl"

// ReplicationSource is datastore.ReplicationSource (GTID: a WAL location, LSN).
type ReplicationSource = datastore.ReplicationSource

var _ datastore.Replicator = (*Manager)(nil)
var _ datastore.SeedRestorer = (*Manager)(nil)

// replicaSource is what a standby follows (state/replication_source.json, 0600).
type replicaSource struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	User string `json:"user"`
	Slot string `json:"slot"`
	// Password is the replication role's, also in passFile for the walreceiver (this file is the agent's).
	Password string `json:"password"`
}

func (m *Manager) replSecretFile() string {
	return filepath.Join(m.opts.Layout.State(), "os_repl.secret")
}
func (m *Manager) sourceFile() string {
	return filepath.Join(m.opts.Layout.State(), "replication_source.json")
}

// passFile is the standby's libpq password file for its source (the walreceiver, the service user, reads it).
func (m *Manager) passFile() string { return filepath.Join(m.opts.Layout.Run(), "replication.pgpass") }
func (m *Manager) standbySignal() string {
	return filepath.Join(m.opts.Layout.Data(), "standby.signal")
}

// slotName is this server's replication slot on its source: from its address and port (unique per instance
// on a host and across the loopback addresses of the local driver).
func (m *Manager) slotName() string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s:%d", m.opts.BindHost, m.opts.Port)
	return fmt.Sprintf("trove_replica_%08x", h.Sum32())
}

func (m *Manager) loadSource() (*replicaSource, error) {
	b, err := os.ReadFile(m.sourceFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s replicaSource
	return &s, json.Unmarshal(b, &s)
}

// replicationSettings are the settings of a standby following a source (after the configuration group's: a
// group cannot change them); nil when the server follows none.
func (m *Manager) replicationSettings() map[string]string {
	s, err := m.loadSource()
	if err != nil || s == nil {
		return nil
	}
	return map[string]string{
		"primary_conninfo": fmt.Sprintf("host=%s port=%d user=%s passfile=%s application_name=%s connect_timeout=5",
			s.Host, s.Port, s.User, m.passFile(), s.Slot),
		"primary_slot_name": s.Slot,
	}
}

// sourceSettings keep WAL for a replica being built from a snapshot (its slot exists only once it attaches),
// and bound the WAL a slot may hold (a replica deleted without detaching, or far behind, loses its slot
// instead of filling the source's volume): an eighth and a quarter of the volume, at most 512 MB and 8 GB
// (unlimited volume: the maximums). A base a configuration group may change.
func (m *Manager) sourceSettings() map[string]string {
	keep, slot := 512, 8192
	if m.opts.Volume != nil && m.opts.Volume.Size() > 0 {
		mb := int(m.opts.Volume.Size() * 1024)
		keep, slot = max(64, min(keep, mb/8)), max(128, min(slot, mb/4))
	}
	return map[string]string{"wal_keep_size": fmt.Sprintf("%dMB", keep), "max_slot_wal_keep_size": fmt.Sprintf("%dMB", slot)}
}

func (m *Manager) inRecovery(ctx context.Context) (bool, error) {
	rows, err := m.query(ctx, "postgres", "SELECT pg_is_in_recovery()")
	if err != nil {
		return false, err
	}
	return len(rows) == 1 && rows[0][0] == "t", nil
}

// EnableAsSource makes sure the replication role exists with this server's password and that pg_hba admits
// it to replication, and returns how to follow this server at its current LSN. Repeatable; a standby cannot.
func (m *Manager) EnableAsSource(ctx context.Context) (ReplicationSource, error) {
	standby, err := m.inRecovery(ctx)
	if err != nil {
		return ReplicationSource{}, err
	}
	if standby {
		return ReplicationSource{}, datastore.Errorf(datastore.KindBadRequest, "this server is a standby: detach it before it can be a replication source")
	}
	pw, err := datastore.KeptSecret(m.replSecretFile())
	if err != nil {
		return ReplicationSource{}, err
	}
	q := "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = " + lit(replUser) + ") THEN CREATE ROLE " + ident(replUser) +
		"; END IF; END $$; ALTER ROLE " + ident(replUser) + " WITH REPLICATION LOGIN NOSUPERUSER PASSWORD " + lit(pw)
	if err := m.execSecret(ctx, q); err != nil {
		return ReplicationSource{}, fmt.Errorf("creating the replication role: %w", err)
	}
	if err := m.admitReplication(); err != nil {
		return ReplicationSource{}, err
	}
	if err := m.writeConfig(); err != nil { // sourceSettings from now on
		return ReplicationSource{}, err
	}
	if err := m.exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return ReplicationSource{}, err
	}
	lsn, err := m.LatestTxnID(ctx)
	if err != nil {
		return ReplicationSource{}, err
	}
	return ReplicationSource{Host: m.opts.BindHost, Port: m.opts.Port, User: replUser, Password: pw, GTID: lsn}, nil
}

// hbaReplication admits the replication role to physical replication from any address, with its password
// (`all` in pg_hba does not match replication connections); the caller reloads.
const hbaReplication = "host replication " + replUser + " 0.0.0.0/0 scram-sha-256\nhost replication " + replUser + " ::/0 scram-sha-256\n"

func (m *Manager) admitReplication() error {
	path := filepath.Join(m.opts.Layout.Data(), "pg_hba.conf")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if strings.Contains(string(b), hbaReplication) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(hbaReplication)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// RestoredGTID: a standby streams from where its data is, so it needs no position.
func (m *Manager) RestoredGTID() (string, error) { return "", nil }

var lsnText = regexp.MustCompile(`^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$`)

func checkLSN(lsn string) error {
	if lsn != "" && !lsnText.MatchString(lsn) {
		return datastore.Errorf(datastore.KindBadRequest, "%q is not a PostgreSQL WAL location (LSN)", lsn)
	}
	return nil
}

// AttachReplica makes this server a standby of src: its replication slot on src (created when missing), the
// source and password files, then primary_conninfo by a reload when it is a standby already, or standby.signal
// and a restart when it is a source (make_read_only demoted it first in a switchover). src.GTID is only
// checked: a standby streams from where its data is. Every value that goes into primary_conninfo or the
// password file is checked to need no quoting.
func (m *Manager) AttachReplica(ctx context.Context, src ReplicationSource) error {
	addr, err := src.Address()
	if err != nil {
		return err
	}
	if err := checkLSN(src.GTID); err != nil {
		return err
	}
	rs := replicaSource{Host: addr.String(), Port: src.Port, User: src.User, Slot: m.slotName(), Password: src.Password}
	if _, err := m.remote(ctx, rs, "SELECT pg_create_physical_replication_slot("+lit(rs.Slot)+", true) "+
		"WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = "+lit(rs.Slot)+")"); err != nil {
		return fmt.Errorf("creating replication slot %s on the source %s:%d: %w", rs.Slot, addr, src.Port, err)
	}
	// any host and port: the file serves only primary_conninfo, and an IPv6 address would need escaping
	if err := datastore.WriteFileAtomic(m.passFile(), []byte(fmt.Sprintf("*:*:*:%s:%s\n", rs.User, rs.Password)), 0o600); err != nil {
		return err
	}
	if m.cred != nil {
		if err := os.Chown(m.passFile(), int(m.cred.Uid), int(m.cred.Gid)); err != nil {
			return err
		}
	}
	b, _ := json.Marshal(rs)
	if err := datastore.WriteFileAtomic(m.sourceFile(), b, 0o600); err != nil {
		return err
	}
	standby, err := m.inRecovery(ctx)
	if err != nil {
		return err
	}
	log := m.opts.Log.WithField("source", fmt.Sprintf("%s:%d", addr, src.Port)).WithField("slot", rs.Slot)
	if standby {
		if err := m.writeConfig(); err != nil {
			return err
		}
		if err := m.exec(ctx, "SELECT pg_reload_conf()"); err != nil {
			return err
		}
	} else {
		if err := m.demote(ctx); err != nil {
			return err
		}
	}
	m.dropIdleSlots(ctx)
	log.Info("streaming from source")
	return nil
}

// demote restarts a source as a standby: a fast shutdown (the walsenders send the shutdown checkpoint to the
// standbys before they exit) and a start with standby.signal.
func (m *Manager) demote(ctx context.Context) error {
	if err := os.WriteFile(m.standbySignal(), nil, 0o600); err != nil {
		return err
	}
	if m.cred != nil {
		if err := os.Chown(m.standbySignal(), int(m.cred.Uid), int(m.cred.Gid)); err != nil {
			return err
		}
	}
	m.opts.Log.Info("restarting as a standby")
	return m.Restart(ctx)
}

// dropIdleSlots drops the replication slots of this server's former replicas (they follow another source now,
// or will): a slot nobody streams from keeps WAL for ever. Best effort.
func (m *Manager) dropIdleSlots(ctx context.Context) {
	rows, err := m.query(ctx, "postgres", "SELECT slot_name FROM pg_replication_slots WHERE NOT active AND slot_type = 'physical'")
	for _, r := range rows {
		if err == nil {
			err = m.exec(ctx, "SELECT pg_drop_replication_slot("+lit(r[0])+")")
		}
	}
	if err != nil {
		m.opts.Log.WithError(err).Warn("former replicas' replication slots not dropped")
	}
}

// remote runs sql on a replication source as its replication role (a plain connection to database postgres:
// creating and dropping a physical slot needs only REPLICATION).
func (m *Manager) remote(ctx context.Context, src replicaSource, sql string) ([][]string, error) {
	bin, err := m.bin("psql")
	if err != nil {
		return nil, err
	}
	return psql(ctx, bin, src.Host, src.Port, src.User, src.Password, "postgres", sql)
}

// DetachReplica promotes a standby (pg_promote, waiting for it) and forgets its source, whose slot for this
// server it drops when the source answers. Repeatable: a server that is no standby only forgets its source.
func (m *Manager) DetachReplica(ctx context.Context) error {
	standby, err := m.inRecovery(ctx)
	if err != nil {
		return err
	}
	if standby {
		rows, err := m.query(ctx, "postgres", "SELECT pg_promote(true, 60)")
		if err != nil {
			return fmt.Errorf("promoting the standby: %w", err)
		}
		if len(rows) != 1 || rows[0][0] != "t" {
			return errors.New("the standby did not finish its promotion within 60 s")
		}
		m.opts.Log.Info("standby promoted")
	}
	src, err := m.loadSource()
	if err != nil {
		return err
	}
	if src != nil {
		m.dropSlotOn(ctx, *src)
	}
	for _, f := range []string{m.sourceFile(), m.passFile()} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := m.writeConfig(); err != nil {
		return err
	}
	return m.exec(ctx, "SELECT pg_reload_conf()")
}

// dropSlotOn drops this server's slot on its former source, waiting a few seconds while the source's
// walsender has not noticed the end of the stream. Best effort: a dead source is the eject case.
func (m *Manager) dropSlotOn(ctx context.Context, src replicaSource) {
	var err error
	for i := 0; i < 20; i++ {
		var rows [][]string
		rows, err = m.remote(ctx, src, "SELECT active FROM pg_replication_slots WHERE slot_name = "+lit(src.Slot))
		switch {
		case err != nil:
			m.opts.Log.WithError(err).WithField("slot", src.Slot).Warn("replication slot on the former source not dropped")
			return
		case len(rows) == 0:
			return
		case rows[0][0] == "f":
			_, err = m.remote(ctx, src, "SELECT pg_drop_replication_slot("+lit(src.Slot)+")")
			continue
		}
		time.Sleep(250 * time.Millisecond)
	}
	m.opts.Log.WithError(err).WithField("slot", src.Slot).Warn("replication slot on the former source still in use: not dropped")
}

// MakeReadOnly on demotes a source to a standby that follows nothing (see the top of this file); off makes
// such a demoted server a source again (a restart without standby.signal, on the same timeline). A standby
// that follows a source is read-only already and stays so: detach_replica makes it writable.
func (m *Manager) MakeReadOnly(ctx context.Context, on bool) error {
	standby, err := m.inRecovery(ctx)
	if err != nil {
		return err
	}
	if on {
		if standby {
			return nil
		}
		return m.demote(ctx)
	}
	if !standby {
		return nil
	}
	if src, err := m.loadSource(); err != nil || src != nil {
		if err == nil {
			err = datastore.Errorf(datastore.KindBadRequest, "this server is a replica: detach it to make it writable")
		}
		return err
	}
	if err := os.Remove(m.standbySignal()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	m.opts.Log.Info("restarting as a source")
	return m.Restart(ctx)
}

// LatestTxnID is the server's WAL position: the current LSN of a source; on a standby the furthest of what it
// received and what it replayed (a promoted standby replays all it received, so this is where it would fork).
func (m *Manager) LatestTxnID(ctx context.Context) (string, error) {
	rows, err := m.query(ctx, "postgres", "SELECT CASE WHEN pg_is_in_recovery() THEN "+
		"GREATEST(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) ELSE pg_current_wal_lsn() END")
	if err != nil {
		return "", err
	}
	if len(rows) != 1 || !lsnText.MatchString(rows[0][0]) {
		return "", fmt.Errorf("no WAL position: %v", rows)
	}
	return rows[0][0], nil
}

// WaitForTxn waits until this server has replayed WAL up to lsn (a source: written it), at most timeout.
func (m *Manager) WaitForTxn(ctx context.Context, lsn string, timeout time.Duration) error {
	if lsn == "" {
		return datastore.Errorf(datastore.KindBadRequest, "no WAL location to wait for")
	}
	if err := checkLSN(lsn); err != nil {
		return err
	}
	q := "SELECT CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_replay_lsn() >= " + lit(lsn) + "::pg_lsn, false) " +
		"ELSE pg_current_wal_lsn() >= " + lit(lsn) + "::pg_lsn END"
	deadline := time.Now().Add(timeout)
	for {
		rows, err := m.query(ctx, "postgres", q)
		if err != nil {
			return err
		}
		if len(rows) == 1 && rows[0][0] == "t" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server did not replay WAL up to %s within %s", lsn, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Streaming reports whether the standby's WAL receiver streams from its source (pg_stat_wal_receiver), and
// its status otherwise.
func (m *Manager) Streaming(ctx context.Context) (bool, string, error) {
	rows, err := m.query(ctx, "postgres", "SELECT status FROM pg_stat_wal_receiver")
	if err != nil {
		return false, "", err
	}
	if len(rows) == 0 {
		return false, "no WAL receiver", nil
	}
	return rows[0][0] == "streaming", rows[0][0], nil
}
