// Package daemon is the start-up trove-conductor and trove-taskmanager share: configuration files from the
// command line, logging, the default-key guard, the catalog (schema checked) and the RPC transport, and a
// context that ends at SIGINT or SIGTERM. Each main reads its own options between Load and Connect.
package daemon

import (
	"context"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/logging"
	"github.com/trove-go/trove/pkg/rpc"
)

// StopTimeout bounds how long a service drains its RPC server and work at shutdown.
const StopTimeout = 30 * time.Second

// Daemon is what a started service shares with the others.
type Daemon struct {
	Config *config.File
	Log    *logrus.Entry
	RPC    rpc.Config // read by Load; validated with the service's own options (Config.Err)

	Catalog   *catalog.DB    // set by Connect
	Transport *rpc.Transport // set by Connect
}

// Load reads the configuration files named on the command line (--config-file/--config-dir; default
// /etc/trove/trove.conf) and sets up logging ([DEFAULT] debug, log_file) for the service called name.
func Load(name string, args []string) (*Daemon, error) {
	f, err := config.FromCommandLine(name, args, config.Paths{Files: []string{"/etc/trove/trove.conf"}})
	if err != nil {
		return nil, err
	}
	log, err := logging.FromConfig(name, f)
	if err != nil {
		return nil, err
	}
	return &Daemon{Config: f, Log: log, RPC: rpc.ConfigFrom(f)}, nil
}

// GuardDefaultKeys logs a SECURITY WARNING for each key (option name → value) that is one of Trove's published
// defaults, or refuses to start with refuse_default_keys (keyring.GuardDefaultKeys).
func (d *Daemon) GuardDefaultKeys(keys map[string]string, refuse bool) error {
	return keyring.GuardDefaultKeys(keys, refuse, func(err error) {
		d.Log.WithError(err).Error("SECURITY WARNING: default key in use (set refuse_default_keys = true to refuse starting)")
	})
}

// Connect opens the catalog from the [database] options (connection, max_pool_size, max_overflow,
// connection_recycle_time), refuses an out-of-date schema, and dials the transport. Close releases both.
func (d *Daemon) Connect(ctx context.Context) error {
	db, err := catalog.OpenConfig(d.Config)
	if err != nil {
		return err
	}
	if err := db.CheckSchema(ctx); err != nil {
		db.Close()
		return err
	}
	tr, err := rpc.Dial(ctx, d.RPC, d.Log)
	if err != nil {
		db.Close()
		return err
	}
	d.Catalog, d.Transport = db, tr
	return nil
}

// Close releases what Connect opened.
func (d *Daemon) Close() {
	if d.Transport != nil {
		d.Transport.Close()
	}
	if d.Catalog != nil {
		d.Catalog.Close()
	}
}

// SignalContext returns a context cancelled at SIGINT or SIGTERM; stop releases the signal handler.
func SignalContext() (ctx context.Context, stop context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}
