// Package agent is the guest agent's core: it owns the datastore Manager, serializes lifecycle operations
// against SQL operations, keeps the agent's state on the data volume (prepare marker, pending prepare, desired
// server state, current size and version), runs prepare (resumably) and sends periodic heartbeats.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/trove-go/trove/pkg/backupcrypt"
	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// Heartbeater sends heartbeats to the conductor: the status and, when the datastore reports it, the
// database's health (nil: none).
type Heartbeater interface {
	Heartbeat(ctx context.Context, status string, health *datastore.Health) error
}

// Deps are the agent's dependencies.
type Deps struct {
	Layout datastore.Layout
	Volume *datastore.Volume
	// NewManager builds the datastore manager from the current configuration; it is called at start and again
	// by upgrade (new binaries).
	NewManager func() (datastore.Manager, error)
	// VolumeSize re-reads the configured volume size (resize_fs after the driver grew the volume).
	VolumeSize func() (float64, error)
	Conductor  Heartbeater
	// Storage opens backup stores (create_backup, and prepare's restore); nil: backups refused.
	Storage Storage
	// BackupKeys are [backup_encryption]'s key-encryption keys: with a current key every backup is encrypted;
	// restores accept the current and previous keys. BackupKeysErr: the options are unusable (backups refused,
	// encrypted restores fail saying so — never a silent plaintext backup).
	BackupKeys    backupcrypt.Keys
	BackupKeysErr error
	// GuestLogs configures guest_log_list and guest_log_action (guestlog.go).
	GuestLogs GuestLogConfig
	// PITR turns on shipping the transaction log to the backup store (pitr.go).
	PITR    PITRConfig
	Period  time.Duration // heartbeat period
	Version string        // datastore version from guest_info.conf
	Log     *logrus.Entry
}

// Agent is the guest agent.
type Agent struct {
	d Deps

	// lifecycle is held exclusively by prepare/start/stop/restart/upgrade and shared by SQL operations, so
	// no statement runs against a server being restarted.
	lifecycle sync.RWMutex
	mgr       datastore.Manager

	mu        sync.Mutex
	preparing bool
	upgrading bool

	ovrMu sync.Mutex // <state>/overrides.json (overrides.go)
	logMu sync.Mutex // guest log actions, one at a time (guestlog.go)
}

// State file names inside Layout.State().
const (
	prepareDone    = ".guestagent.prepare.end" // Trove's marker name
	preparePending = "prepare.pending.json"    // prepare args while prepare runs (0600: holds passwords)
	dbStopped      = "db.stopped"              // stop_db was called: do not start on agent restart
	versionFile    = "datastore_version"       // version after an upgrade
)

// New builds the agent and its manager; nothing is started.
func New(d Deps) (*Agent, error) {
	m, err := d.NewManager()
	if err != nil {
		return nil, err
	}
	if err := d.Layout.Make(nil); err != nil {
		return nil, err
	}
	return &Agent{d: d, mgr: m}, nil
}

func (a *Agent) path(name string) string { return filepath.Join(a.d.Layout.State(), name) }

func (a *Agent) exists(name string) bool {
	_, err := os.Stat(a.path(name))
	return err == nil
}

func (a *Agent) touch(name string) error { return os.WriteFile(a.path(name), nil, 0o600) }

func (a *Agent) remove(name string) error {
	if err := os.Remove(a.path(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Prepared reports whether prepare completed.
func (a *Agent) Prepared() bool { return a.exists(prepareDone) }

// Shared runs fn with the manager while no lifecycle operation runs. It refuses when prepare has not
// completed.
func (a *Agent) Shared(fn func(m datastore.Manager) error) error {
	a.lifecycle.RLock()
	defer a.lifecycle.RUnlock()
	if !a.Prepared() {
		return datastore.Errorf(datastore.KindNotRunning, "the guest is not prepared yet")
	}
	return fn(a.mgr)
}

// Grow is Shared for operations that add data: it also refuses when the volume is full.
func (a *Agent) Grow(fn func(m datastore.Manager) error) error {
	return a.Shared(func(m datastore.Manager) error {
		if err := a.d.Volume.CheckRoom(); err != nil {
			return err
		}
		return fn(m)
	})
}

// Start resumes after an agent (re)start: an interrupted prepare is resumed in the background; a prepared
// guest whose server should run is started.
func (a *Agent) Start(ctx context.Context) error {
	if !a.Prepared() {
		b, err := os.ReadFile(a.path(preparePending))
		if err != nil {
			return nil // never prepared: wait for the prepare cast
		}
		var args guestapi.PrepareArgs
		if err := json.Unmarshal(b, &args); err != nil {
			return fmt.Errorf("pending prepare: %w", err)
		}
		a.d.Log.Info("resuming an interrupted prepare")
		go func() { _ = a.Prepare(context.WithoutCancel(ctx), args) }()
		return nil
	}
	if a.exists(dbStopped) {
		a.d.Log.Info("database server stays stopped (stop_db)")
		return nil
	}
	a.lifecycle.Lock()
	defer a.lifecycle.Unlock()
	if err := a.mgr.Prepare(ctx, datastore.PrepareSpec{}); err != nil {
		return err
	}
	a.serverStarted()
	return nil
}

// Prepare is the guest part of create (states.md §4): heartbeat building, initialize and start the server,
// create databases and users, enable root, mark prepared, heartbeat the actual status. It is idempotent
// and resumed by Start after an agent restart. A database, user or root the server refuses does not stop the
// others; prepare then reports a fault naming each and `failed to spawn` (Trove only logs them).
func (a *Agent) Prepare(ctx context.Context, args guestapi.PrepareArgs) error {
	return a.PrepareFrom(ctx, args, backupstore.Credentials{})
}

// PrepareFrom is Prepare with the caller's storage credentials: with backup_info, the data directory is
// restored from the backup chain before the server first starts (a user given at create is still created;
// root is not enabled from a restore, as Trove). With Trove's snapshot too, the backup is a replica's seed.
func (a *Agent) PrepareFrom(ctx context.Context, args guestapi.PrepareArgs, creds backupstore.Credentials) error {
	a.mu.Lock()
	if a.preparing {
		a.mu.Unlock()
		return errors.New("prepare is already running")
	}
	a.preparing = true
	a.mu.Unlock()
	defer func() { a.mu.Lock(); a.preparing = false; a.mu.Unlock() }()

	if a.Prepared() {
		a.d.Log.Warn("prepare received again after completion: ignored")
		return nil
	}
	log := a.d.Log.WithField("op", "prepare")
	if args.Snapshot != nil && args.BackupInfo == nil {
		// Trove's snapshot comes with the backup_info of its dataset: the seed of a replica
		a.heartbeat(ctx, datastore.FailedToSpawn)
		return errors.New("prepare: a replication snapshot without the backup_info of its dataset")
	}
	b, err := json.Marshal(args)
	if err == nil {
		err = datastore.WriteSecret(a.path(preparePending), string(b))
	}
	if err != nil {
		return err
	}
	a.heartbeat(ctx, datastore.Building)
	start := time.Now()
	if len(args.Overrides) > 0 { // a configuration group given at create: in the file before the first start
		if err := a.UpdateOverrides(ctx, args.Overrides, false); err != nil {
			log.WithError(err).Error("prepare: writing the configuration overrides failed")
		}
	}
	if err := a.saveFlavor(args.ConfigContents); err != nil { // before the server's first start
		log.WithError(err).Error("prepare: the flavor settings of config_contents are not usable; base settings used")
	}
	a.lifecycle.Lock()
	if args.BackupInfo != nil {
		if creds.StorageURL == "" {
			creds.StorageURL, _ = args.BackupInfo["swift_url"].(string)
		}
		if err := a.restore(ctx, args.BackupInfo, creds, args.Snapshot != nil); err != nil {
			a.lifecycle.Unlock()
			log.WithError(err).Error("prepare: restoring the backup failed")
			return a.reportFault(ctx, "Restoring the backup failed: "+err.Error(), err)
		}
	}
	if err == nil {
		err = a.mgr.Prepare(ctx, datastore.PrepareSpec{MemoryMB: args.MemoryMB})
	}
	if err == nil {
		a.serverStarted()
	}
	if err != nil {
		a.lifecycle.Unlock()
		log.WithError(err).Error("prepare failed")
		a.heartbeat(ctx, datastore.FailedToSpawn)
		return err
	}
	// each database and user on its own: one the server refuses does not drop the others, and prepare fails
	// naming it (prepareFailed) instead of an instance going ACTIVE without it
	var failure Failure
	createEach(ctx, a.mgr, args.Databases, args.Users, &failure)
	if args.RootPassword != nil && *args.RootPassword != "" && args.BackupInfo == nil {
		_, err := a.mgr.EnableRoot(ctx, *args.RootPassword)
		failure.add(err, "root not enabled")
	}
	err = a.touch(prepareDone)
	if err == nil {
		err = a.remove(preparePending)
	}
	_ = a.remove(dbStopped)
	a.lifecycle.Unlock()
	if err != nil {
		return err
	}
	if failure.err() != nil {
		return a.prepareFailed(ctx, &failure)
	}
	log.WithField("seconds", time.Since(start).Seconds()).Info("prepare completed")
	a.heartbeat(ctx, a.Status(ctx))
	return nil
}

// Status is the current heartbeat status.
func (a *Agent) Status(ctx context.Context) datastore.Status {
	a.mu.Lock()
	preparing, upgrading := a.preparing, a.upgrading
	a.mu.Unlock()
	switch {
	case upgrading:
		return datastore.Upgrading
	case preparing && !a.Prepared():
		return datastore.Building
	}
	return a.mgr.Status(ctx)
}

func (a *Agent) heartbeat(ctx context.Context, st datastore.Status) {
	if err := a.d.Conductor.Heartbeat(ctx, string(st), a.health(ctx, st)); err != nil {
		a.d.Log.WithError(err).WithField("status", st).Warn("heartbeat not sent")
		return
	}
	a.d.Log.WithField("status", st).Debug("heartbeat sent")
}

// health asks the datastore for its health (datastore.HealthReporter) once the database is prepared; a
// database that does not answer within 3 s is reported down.
func (a *Agent) health(ctx context.Context, st datastore.Status) *datastore.Health {
	hr, ok := a.mgr.(datastore.HealthReporter)
	if !ok || !a.Prepared() || st == datastore.Building || st == datastore.Upgrading {
		return nil
	}
	hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	h, err := hr.Health(hctx)
	if err != nil {
		a.d.Log.WithError(err).Debug("the database did not report its health")
		return &datastore.Health{}
	}
	return &h
}

// Heartbeats sends the actual status every Period until ctx ends, once prepare completed (Trove skips
// unforced heartbeats before that).
func (a *Agent) Heartbeats(ctx context.Context) {
	t := time.NewTicker(a.d.Period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.mu.Lock()
		busy := a.preparing
		a.mu.Unlock()
		if !a.Prepared() || busy {
			continue
		}
		a.heartbeat(ctx, a.Status(ctx))
	}
}

// StopDB stops the server and keeps it stopped across agent restarts.
func (a *Agent) StopDB(ctx context.Context) error {
	a.lifecycle.Lock()
	defer a.lifecycle.Unlock()
	if err := a.touch(dbStopped); err != nil {
		return err
	}
	return a.mgr.Stop(ctx)
}

// Restart restarts (or starts) the server.
func (a *Agent) Restart(ctx context.Context) error {
	a.lifecycle.Lock()
	defer a.lifecycle.Unlock()
	if !a.Prepared() {
		return datastore.Errorf(datastore.KindNotRunning, "the guest is not prepared yet")
	}
	if err := a.remove(dbStopped); err != nil {
		return err
	}
	if err := a.mgr.Restart(ctx); err != nil {
		return err
	}
	a.serverStarted()
	go a.heartbeat(context.WithoutCancel(ctx), a.mgr.Status(ctx)) // the new status at once, not a period later
	return nil
}

// ResizeFS re-reads the volume size (the driver grew the volume and rewrote volume_size_gb).
func (a *Agent) ResizeFS(context.Context) error {
	size, err := a.d.VolumeSize()
	if err != nil {
		return err
	}
	a.d.Volume.SetSize(size)
	a.d.Log.WithField("volume_size_gb", size).Info("volume size updated")
	return nil
}

// VolumeStats reports the data volume.
func (a *Agent) VolumeStats(ctx context.Context) (guestapi.FilesystemStats, error) {
	return a.d.Volume.Stats()
}

// DatastoreVersion is the running datastore version (guest_info.conf, or the last upgrade's).
func (a *Agent) DatastoreVersion() string {
	if b, err := os.ReadFile(a.path(versionFile)); err == nil && len(b) > 0 {
		return string(b)
	}
	return a.d.Version
}

// PreUpgrade reports what upgrade needs to keep: the data directory stays in place.
func (a *Agent) PreUpgrade(context.Context) (guestapi.UpgradeInfo, error) {
	return guestapi.UpgradeInfo{"mount_point": a.d.Layout.Root, "datastore_version": a.DatastoreVersion()}, nil
}

// Upgrade stops the server, rebuilds the manager from the (rewritten) configuration so new binaries are used,
// keeps the data, records the version and starts the server again.
func (a *Agent) Upgrade(ctx context.Context, version string) error {
	a.mu.Lock()
	a.upgrading = true
	a.mu.Unlock()
	defer func() { a.mu.Lock(); a.upgrading = false; a.mu.Unlock() }()
	a.heartbeat(ctx, datastore.Upgrading)
	a.lifecycle.Lock()
	err := a.upgrade(ctx, version)
	a.lifecycle.Unlock()
	if err != nil {
		a.d.Log.WithError(err).Error("upgrade failed")
	}
	a.mu.Lock()
	a.upgrading = false
	a.mu.Unlock()
	a.heartbeat(ctx, a.Status(ctx))
	return err
}

func (a *Agent) upgrade(ctx context.Context, version string) error {
	if err := a.mgr.Stop(ctx); err != nil {
		return err
	}
	m, err := a.d.NewManager()
	if err != nil {
		return err
	}
	a.mgr = m
	if version != "" {
		if err := os.WriteFile(a.path(versionFile), []byte(version), 0o600); err != nil {
			return err
		}
	}
	if err := a.remove(dbStopped); err != nil {
		return err
	}
	if err := a.mgr.Prepare(ctx, datastore.PrepareSpec{}); err != nil {
		return err
	}
	a.serverStarted()
	return nil
}

// PostUpgrade makes sure the server runs after an upgrade and records version ("" keeps the recorded one):
// after a rebuild from the new version's image guest_info.conf already names it, and a version file left by an
// earlier in-place upgrade must not shadow it.
func (a *Agent) PostUpgrade(ctx context.Context, version string) error {
	a.lifecycle.Lock()
	defer a.lifecycle.Unlock()
	if version != "" {
		if err := os.WriteFile(a.path(versionFile), []byte(version), 0o600); err != nil {
			return err
		}
	}
	if a.mgr.Status(ctx) == datastore.Healthy {
		return nil
	}
	return a.mgr.Prepare(ctx, datastore.PrepareSpec{})
}

// Shutdown stops the server when the agent exits (the compute driver deletes or stops the instance).
func (a *Agent) Shutdown(ctx context.Context) {
	a.lifecycle.Lock()
	defer a.lifecycle.Unlock()
	_ = a.mgr.Stop(ctx)
}
