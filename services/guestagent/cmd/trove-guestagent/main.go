// trove-guestagent is the guest agent of one database instance: it serves guestagent.<guest_id>, runs and
// administers the instance's database server on its data directory, and heartbeats to the conductor.
//
//	trove-guestagent --config-dir <instance dir>/etc/trove/conf.d
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/trove-go/trove/pkg/backupcrypt"
	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/conductorapi"
	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/logging"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/agent"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
	"github.com/trove-go/trove/services/guestagent/internal/guestconf"
	"github.com/trove-go/trove/services/guestagent/internal/handlers"
	"github.com/trove-go/trove/services/guestagent/internal/mysql"
	"github.com/trove-go/trove/services/guestagent/internal/postgresql"
	"github.com/trove-go/trove/services/guestagent/internal/rpckeys"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "trove-guestagent:", err)
		os.Exit(1)
	}
}

func load(paths config.Paths) (guestconf.Config, *config.File, error) {
	f, err := config.Load(paths)
	if err != nil {
		return guestconf.Config{}, nil, err
	}
	c, err := guestconf.Load(f)
	return c, f, err
}

func run() error {
	fs := flag.NewFlagSet("trove-guestagent", flag.ExitOnError)
	paths := config.RegisterFlags(fs)
	_ = fs.Parse(os.Args[1:])
	cfg, file, err := load(*paths)
	if err != nil {
		return err
	}
	log, err := logging.Setup("trove-guestagent", cfg.Debug, cfg.LogFile)
	if err != nil {
		return err
	}
	log = log.WithField("guest_id", cfg.GuestID)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	tr, err := rpc.Dial(ctx, rpc.ConfigFrom(file), log)
	if err != nil {
		return err
	}
	defer tr.Close()
	keys := rpckeys.New(cfg.GuestID, cfg.RPCKey, cfg.Envelope, guestInfoPath(*paths))
	conductor := conductorapi.New(tr.Client(conductorapi.Target(cfg.ConductorTopic), keys.ConductorCodec()))

	layout := datastore.Layout{Root: cfg.DataDir}
	volume := datastore.NewVolume(cfg.DataDir, cfg.VolumeSizeGB)
	backupKeys, backupKeysErr := backupEncryption(file, log)
	a, err := agent.New(agent.Deps{
		Layout: layout,
		Volume: volume,
		NewManager: func() (datastore.Manager, error) {
			c, _, err := load(*paths) // upgrade re-reads server_bin_dir
			if err != nil {
				return nil, err
			}
			return newManager(c, layout, volume, log)
		},
		VolumeSize: func() (float64, error) {
			c, _, err := load(*paths)
			return c.VolumeSizeGB, err
		},
		Conductor:     heartbeater{c: conductor, id: cfg.GuestID, tenant: cfg.TenantID},
		Storage:       storage(file, cfg.TenantID, log),
		BackupKeys:    backupKeys,
		BackupKeysErr: backupKeysErr,
		GuestLogs: agent.GuestLogConfig{InstanceID: cfg.GuestID, Manager: cfg.Manager, Container: cfg.GuestLogContainer,
			Limit: cfg.GuestLogLimit, Expiry: int64(cfg.GuestLogExpiry), Exposed: cfg.GuestLogExposed, LongQueryMS: cfg.GuestLogLongQueryMS, AgentLog: cfg.LogFile},
		PITR:    walShipping(file, cfg, log),
		Period:  cfg.HeartbeatPeriod,
		Version: cfg.DatastoreVersion,
		Log:     log,
	})
	if err != nil {
		return err
	}
	// messages for this instance are applied in the order they were sent (writes alone, reads after them)
	h := &handlers.Handlers{Agent: a, Notifier: conductor, GuestID: cfg.GuestID, Log: log, Keys: keys, Backups: conductor}
	srv := tr.NewServer(rpc.ServerConfig{Topic: guestapi.Topic(cfg.GuestID), Server: cfg.GuestID,
		Version: guestapi.Version, Codec: keys.ServerCodec(), Order: h.Order})
	h.Register(srv)
	if err := srv.Start(ctx); err != nil {
		return err
	}
	// serve first (rpc_ping answers while the server starts; other methods wait for the lifecycle lock)
	if err := a.Start(ctx); err != nil {
		log.WithError(err).Error("starting the database server failed")
	}
	log.WithFields(logrus.Fields{"manager": cfg.Manager, "data_dir": cfg.DataDir, "envelope": cfg.Envelope}).Info("guest agent serving")
	h.FailInterruptedBackup(ctx)
	go a.Heartbeats(ctx)
	go a.ShipWAL(ctx)
	<-ctx.Done()
	log.Info("stopping")
	sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_ = srv.Stop(sctx)
	a.Shutdown(sctx)
	return nil
}

// storage opens backup stores as the guest's configuration describes them ([DEFAULT] storage_strategy and the
// driver's options); a backup naming another driver or container overrides those two. A directory store is the
// project's own directory under [backup_directory] root. A configuration the guest cannot use is logged once
// here and each backup then fails saying why.
func storage(file *config.File, tenant string, log *logrus.Entry) agent.Storage {
	cfg, cfgErr := backupstore.FromConfig(file)
	if cfgErr == nil {
		cfgErr = backupstore.CheckProject(tenant)
	}
	if cfgErr != nil {
		log.WithError(cfgErr).Error("backup storage options are not usable: backups and restores will fail until they are fixed")
	}
	return func(driver, container string, creds backupstore.Credentials) (backupstore.Store, error) {
		if cfgErr != nil {
			return nil, cfgErr
		}
		c := cfg
		if driver != "" {
			c.Driver = driver
		}
		if container != "" {
			c.Swift.Container = container
		}
		c.Directory.Root = backupstore.ProjectDir(c.Directory.Root, tenant)
		return backupstore.New(c, creds)
	}
}

// walShipping is the point-in-time recovery configuration: shipping the WAL every [postgresql]
// wal_ship_interval (the binary log every [<manager>] binlog_ship_interval) to a store that needs no user
// token (directory, s3: Swift needs the user's token, which the guest has only during a backup).
func walShipping(file *config.File, cfg guestconf.Config, log *logrus.Entry) agent.PITRConfig {
	if cfg.WALShipInterval <= 0 {
		return agent.PITRConfig{}
	}
	if sc, err := backupstore.FromConfig(file); err == nil && sc.Driver == backupstore.DriverSwift {
		log.Warn("transaction log shipping (wal_ship_interval / binlog_ship_interval) is ignored: the swift backup store needs a user's token (use directory or s3 for point-in-time recovery)")
		return agent.PITRConfig{}
	}
	log.WithField("interval_seconds", cfg.WALShipInterval.Seconds()).WithField("archive_timeout_seconds", cfg.ArchiveTimeout.Seconds()).Info("transaction log shipping to the backup store is on")
	return agent.PITRConfig{InstanceID: cfg.GuestID, Interval: cfg.WALShipInterval, Retention: cfg.ShipRetention}
}

// backupEncryption reads [backup_encryption] and says once how backups will be protected (key ids only: the
// keys are secrets). Unusable options are logged here; backups then fail saying why.
func backupEncryption(file *config.File, log *logrus.Entry) (backupcrypt.Keys, error) {
	keys, err := backupcrypt.FromConfig(file)
	switch {
	case err != nil:
		log.WithError(err).Error("backup encryption options are not usable: backups and encrypted restores will fail until they are fixed")
	case !keys.Enabled():
		log.Warn("backups are not encrypted: [backup_encryption] key is not set")
	default:
		log.WithField("key_id", backupcrypt.KeyID(keys.Current)).WithField("previous_keys", len(keys.Previous)).Info("backups are encrypted")
	}
	return keys, err
}

// guestInfoPath is the guest_info.conf among the configuration files (rewritten by key rotation).
func guestInfoPath(p config.Paths) string {
	for _, f := range p.Files {
		if filepath.Base(f) == "guest_info.conf" {
			return f
		}
	}
	for _, d := range p.Dirs {
		if f := filepath.Join(d, "guest_info.conf"); fileExists(f) {
			return f
		}
	}
	return "/etc/trove/conf.d/guest_info.conf"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func newManager(c guestconf.Config, layout datastore.Layout, volume *datastore.Volume, log *logrus.Entry) (datastore.Manager, error) {
	opts := datastore.Options{Manager: c.Manager, Layout: layout, BindHost: c.BindHost, Port: c.Port, BinDir: c.ServerBinDir,
		IgnoreUsers: c.IgnoreUsers, IgnoreDBs: c.IgnoreDBs, Volume: volume, Log: log.WithField("component", c.Manager),
		ArchiveTimeout: c.ArchiveTimeout, LogRetention: c.LogRetention}
	if c.Manager == "postgresql" {
		return postgresql.New(opts)
	}
	return mysql.New(opts)
}

// heartbeater sends heartbeats for this guest with an empty (service) context, and prepare's faults.
type heartbeater struct {
	c      *conductorapi.Client
	id     string
	tenant string
}

// Fault reports what prepare could not do (agent.FaultReporter): notify_exc_info under Trove's
// DBaaSInstanceCreate, recorded by the conductor as the instance's fault.
func (h heartbeater) Fault(ctx context.Context, message string) error {
	return h.c.NotifyExcInfo(ctx, rpc.Context{}, conductorapi.NotifyExcInfoArgs{
		SerializedNotification: handlers.Notification(handlers.ClassInstanceCreate, h.id, h.tenant, ""),
		Message:                message, Exception: []string{message}})
}

func (h heartbeater) Heartbeat(ctx context.Context, status string, health *datastore.Health) error {
	var wire *conductorapi.Health
	if health != nil {
		wire = &conductorapi.Health{Up: health.Up, Connections: health.Connections, ReplicationLag: health.ReplicationLag}
	}
	return h.c.Heartbeat(ctx, rpc.Context{}, h.id, status, wire)
}
