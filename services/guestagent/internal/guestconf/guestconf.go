// Package guestconf reads the guest agent's configuration: guest_info.conf (written by the compute driver,
// states.md §9) and trove-guestagent.conf ([DEFAULT] messaging and heartbeat options, [local] keys of the local
// compute driver, [<manager>] datastore sections), into one typed struct.
package guestconf

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// Config is the guest agent's configuration after one validation pass.
type Config struct {
	GuestID          string       // [DEFAULT] guest_id (the instance id)
	Manager          string       // [DEFAULT] datastore_manager: mysql, mariadb or postgresql
	DatastoreVersion string       // [DEFAULT] datastore_version
	TenantID         string       // [DEFAULT] tenant_id
	RPCKey           string       // [DEFAULT] instance_rpc_encr_key; "" = plaintext RPC
	Envelope         rpc.Envelope // [DEFAULT] instance_rpc_envelope: trove (Trove's CBC, default with a key) or aead

	ConductorTopic string // [DEFAULT] conductor_queue
	// HeartbeatPeriod is [DEFAULT] agent_heartbeat_time (default 10 s). Trove leaves this option unused and
	// heartbeats about every 60 s; we use it as the period so a stale guest is noticed well within
	// agent_heartbeat_expiry (90 s).
	HeartbeatPeriod time.Duration
	ReportInterval  time.Duration // [DEFAULT] report_interval (accepted; heartbeats use HeartbeatPeriod)
	Debug           bool          // [DEFAULT] debug
	LogFile         string        // [DEFAULT] log_file (relative to log_dir when set)

	BindHost     string  // [local] bind_host: the loopback address the datastore listens on
	DataDir      string  // [local] data_dir: the instance's "volume"
	VolumeSizeGB float64 // [local] volume_size_gb: enforced size of data_dir (0 = unlimited)
	ServerBinDir string  // [local] server_bin_dir: datastore binaries ("" = system locations)

	// Guest logs (guest_log_list / guest_log_action).
	GuestLogContainer   string   // [DEFAULT] guest_log_container_name (database_logs)
	GuestLogLimit       int      // [DEFAULT] guest_log_limit: bytes per published object (1000000)
	GuestLogExpiry      int      // [DEFAULT] guest_log_expiry: seconds before Swift deletes published objects (2592000)
	GuestLogExposed     []string // [<manager>] guest_log_exposed_logs
	GuestLogLongQueryMS int      // [<manager>] guest_log_long_query_time (ms)

	Port        int      // [postgresql] postgresql_port (5432) / 3306 for mysql and mariadb
	IgnoreUsers []string // [<manager>] ignore_users
	IgnoreDBs   []string // [<manager>] ignore_dbs

	// Point-in-time recovery: [postgresql] wal_ship_interval — seconds between shipping the archived WAL to
	// the backup store (0, the default: off) — and [postgresql] archive_timeout (60 s): the longest an idle
	// server waits before archiving its current WAL segment while shipping is on. MariaDB/MySQL:
	// [<manager>] binlog_ship_interval (0: off) and binlog_flush_interval (60 s: FLUSH BINARY LOGS at least
	// that often, so the current binary log file is closed and shipped); [<manager>] binlog_local_retention
	// (86400 s): how long a shipped binary log file stays on the guest's volume (for replicas that reconnect)
	// before it is purged.
	// [postgresql] wal_retention / [<manager>] binlog_retention (604800 s, a week; 0: kept): shipped files
	// archived longer ago are deleted from the store — the recoverable window's length.
	WALShipInterval time.Duration
	ArchiveTimeout  time.Duration
	LogRetention    time.Duration
	ShipRetention   time.Duration
}

// Load reads and validates the options from f.
func Load(f *config.File) (Config, error) {
	const d = "DEFAULT"
	c := Config{
		GuestID:          f.String(d, "guest_id", ""),
		Manager:          f.String(d, "datastore_manager", ""),
		DatastoreVersion: f.String(d, "datastore_version", ""),
		TenantID:         f.String(d, "tenant_id", ""),
		RPCKey:           f.String(d, "instance_rpc_encr_key", ""),
		ConductorTopic:   f.String(d, "conductor_queue", "trove-conductor"),
		HeartbeatPeriod:  f.Seconds(d, "agent_heartbeat_time", 10),
		ReportInterval:   f.Seconds(d, "report_interval", 30),
		Debug:            f.Bool(d, "debug", false),
		LogFile:          f.String(d, "log_file", ""),
		BindHost:         f.String("local", "bind_host", "127.0.0.1"),
		DataDir:          f.String("local", "data_dir", ""),
		VolumeSizeGB:     f.Float("local", "volume_size_gb", 0),
		ServerBinDir:     f.String("local", "server_bin_dir", ""),

		GuestLogContainer: f.String(d, "guest_log_container_name", "database_logs"),
		GuestLogLimit:     f.Int(d, "guest_log_limit", 1000000),
		GuestLogExpiry:    f.Int(d, "guest_log_expiry", 2592000),
	}
	if dir := f.String(d, "log_dir", ""); dir != "" && c.LogFile != "" && !filepath.IsAbs(c.LogFile) {
		c.LogFile = filepath.Join(dir, c.LogFile)
	}
	var defUsers, defDBs []string
	switch c.Manager {
	case "mysql", "mariadb":
		c.Port = 3306
		defUsers = []string{"os_admin", "root"}
		defDBs = []string{"mysql", "information_schema", "performance_schema", "sys"}
	case "postgresql":
		c.Port = f.Int("postgresql", "postgresql_port", 5432)
		c.WALShipInterval = f.Seconds("postgresql", "wal_ship_interval", 0)
		if c.WALShipInterval > 0 {
			c.ArchiveTimeout = f.Seconds("postgresql", "archive_timeout", 60)
			c.ShipRetention = f.Seconds("postgresql", "wal_retention", 7*86400)
		}
		defUsers = []string{"os_admin", "postgres"}
		defDBs = []string{"os_admin", "postgres"}
	}
	if c.Manager == "mysql" || c.Manager == "mariadb" {
		c.WALShipInterval = f.Seconds(c.Manager, "binlog_ship_interval", 0)
		if c.WALShipInterval > 0 {
			c.ArchiveTimeout = f.Seconds(c.Manager, "binlog_flush_interval", 60)
			c.LogRetention = f.Seconds(c.Manager, "binlog_local_retention", 86400)
			c.ShipRetention = f.Seconds(c.Manager, "binlog_retention", 7*86400)
		}
	}
	if c.Manager != "" {
		c.IgnoreUsers = f.List(c.Manager, "ignore_users", defUsers)
		c.IgnoreDBs = f.List(c.Manager, "ignore_dbs", defDBs)
		c.GuestLogExposed = f.List(c.Manager, "guest_log_exposed_logs", guestapi.DefaultExposedLogs(c.Manager))
		c.GuestLogLongQueryMS = f.Int(c.Manager, "guest_log_long_query_time", guestapi.DefaultLongQueryMS(c.Manager))
	}
	errs := []error{f.Err()}
	if c.GuestID == "" {
		errs = append(errs, errors.New("[DEFAULT] guest_id is required"))
	}
	switch c.Manager {
	case "mysql", "mariadb", "postgresql":
	default:
		errs = append(errs, fmt.Errorf("[DEFAULT] datastore_manager %q is not supported (mysql, mariadb, postgresql)", c.Manager))
	}
	env, err := rpc.ParseEnvelope(f.String(d, "instance_rpc_envelope", ""), c.RPCKey != "")
	if err != nil {
		errs = append(errs, fmt.Errorf("[DEFAULT] instance_rpc_envelope: %w", err))
	}
	c.Envelope = env
	if c.DataDir == "" || !filepath.IsAbs(c.DataDir) {
		errs = append(errs, fmt.Errorf("[local] data_dir %q must be an absolute path", c.DataDir))
	}
	if ip := net.ParseIP(c.BindHost); ip == nil || !ip.IsLoopback() {
		errs = append(errs, fmt.Errorf("[local] bind_host %q must be a loopback address", c.BindHost))
	}
	if c.VolumeSizeGB < 0 {
		errs = append(errs, fmt.Errorf("[local] volume_size_gb %v is negative", c.VolumeSizeGB))
	}
	if c.GuestLogLimit <= 0 {
		errs = append(errs, fmt.Errorf("[DEFAULT] guest_log_limit must be positive"))
	}
	if c.GuestLogExpiry < 0 {
		errs = append(errs, fmt.Errorf("[DEFAULT] guest_log_expiry must not be negative"))
	}
	if c.GuestLogLongQueryMS < 0 {
		errs = append(errs, fmt.Errorf("[%s] guest_log_long_query_time must not be negative", c.Manager))
	}
	if c.HeartbeatPeriod <= 0 {
		errs = append(errs, fmt.Errorf("[DEFAULT] agent_heartbeat_time must be positive"))
	}
	return c, errors.Join(errs...)
}
