// Command trove-taskmanager runs instance flows (create, delete, restart, resize volume) cast by trove-api on
// [DEFAULT] taskmanager_queue, against the compute driver chosen by [DEFAULT] compute_driver.
package main

import (
	"context"
	"fmt"
	"github.com/trove-go/trove/pkg/backupstore"
	"os"
	"time"

	"github.com/trove-go/trove/pkg/compute/drivers"
	"github.com/trove-go/trove/pkg/daemon"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/metrics"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/taskapi"
	"github.com/trove-go/trove/services/taskmanager/internal/flows"
	"github.com/trove-go/trove/services/taskmanager/internal/guestbroker"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "trove-taskmanager:", err)
		os.Exit(1)
	}
}

func run() error {
	d, err := daemon.Load("trove-taskmanager", os.Args[1:])
	if err != nil {
		return err
	}
	f, log := d.Config, d.Log
	flowCfg := flows.ConfigFrom(f)
	if flowCfg.GuestCap, err = guestapi.CapFrom(f); err != nil {
		return err
	}
	topic := f.String("DEFAULT", "taskmanager_queue", taskapi.Topic)
	host := f.String("DEFAULT", "host", "0.0.0.0")
	codec := rpc.PlainCodec()
	keys := map[string]string{"inst_rpc_key_encr_key": flowCfg.InstRPCKeyEncrKey}
	if flowCfg.EnableSecureRPC {
		tmKey := f.String("DEFAULT", "taskmanager_rpc_encr_key", keyring.DefaultTaskmanagerKey)
		codec = rpc.TroveCodec(tmKey)
		keys["taskmanager_rpc_encr_key"] = tmKey
	}
	refuse := f.Bool("DEFAULT", "refuse_default_keys", false)
	if e := flowCfg.Envelope; e != "aead" && e != "trove" {
		return fmt.Errorf("[DEFAULT] instance_rpc_envelope = %q: want aead (our guests) or trove (Python guests)", e)
	}
	driver, err := drivers.FromConfig(f, log)
	if err != nil {
		return err
	}
	// The local driver isolates instances through a root helper: refuse to start without it rather than run
	// tenants unconfined.
	if c, ok := driver.(drivers.IsolationChecker); ok {
		if err := c.Check(context.Background()); err != nil {
			return err
		}
	}
	startStopped := f.Bool("local", "start_stopped_guests", true)
	brokerCfg := guestbroker.ConfigFrom(f)
	if err := f.Err(); err != nil {
		return err
	}
	accounts, err := guestbroker.NewAccounts(brokerCfg, f)
	if err != nil {
		return err
	}
	if err := d.GuardDefaultKeys(keys, refuse); err != nil {
		return err
	}

	ctx, stop := daemon.SignalContext()
	defer stop()
	if err := d.Connect(ctx); err != nil {
		return err
	}
	defer d.Close()

	if s, ok := driver.(drivers.StoppedStarter); ok && startStopped {
		// Like Nova's resume_guests_state_on_host_boot: instances of this host come back after a reboot.
		started, err := s.StartStopped(ctx)
		if err != nil {
			return err
		}
		if len(started) > 0 {
			log.WithField("instances", started).Info("started stopped guests")
		}
	}
	notifier, err := d.Notifier(ctx)
	if err != nil {
		return err
	}
	defer notifier.Close()
	reg, err := d.Metrics(ctx)
	if err != nil {
		return err
	}
	deps := flows.Deps{Catalog: d.Catalog, Compute: driver, Transport: d.Transport, Config: flowCfg, Log: log, Notify: notifier}
	if reg != nil {
		deps.Metrics = metrics.NewFlows(reg)
		reg.MustRegister(&metrics.Instances{List: d.Catalog.LiveInstances, Expiry: flowCfg.HeartbeatExpiry, Counts: true, Log: log})
	}
	if storeCfg, err := backupstore.FromConfig(f); err != nil {
		log.WithError(err).Error("backup storage options are not usable: deleted backups keep their objects (DELETE_FAILED) until they are fixed")
	} else {
		deps.Storage = flows.StorageFrom(storeCfg)

	}
	if accounts != nil {
		deps.Broker = accounts
		if err := accounts.Admin.Check(ctx); err != nil {
			log.WithError(err).Error("[guest_broker] the management API refuses or does not answer; creating instances will fail until it does")
		}
	} else {
		log.Warn("SECURITY WARNING: guests share the broker account of guest_config ([guest_broker] per_guest_accounts = false): " +
			"one guest's credentials can read other tenants' RPC traffic")
	}
	m := flows.New(deps)
	if err := m.Resume(ctx); err != nil {
		return fmt.Errorf("resuming unfinished flows: %w", err)
	}
	srv := d.Transport.NewServer(rpc.ServerConfig{Topic: topic, Server: host, Version: taskapi.Version, Codec: codec})
	m.Register(srv)
	if err := srv.Start(ctx); err != nil {
		return err
	}
	go m.Sweep(ctx, time.Minute)
	// backup schedules: every taskmanager polls; the catalog's lease makes each slot run once
	go m.RunSchedules(ctx, fmt.Sprintf("%s/%d", host, os.Getpid()))
	// restore drills ([taskmanager] restore_drills_enabled): the same leases make each drill run once
	if flowCfg.DrillsEnabled {
		go m.RunDrills(ctx, fmt.Sprintf("%s/%d", host, os.Getpid()))
	}
	// automatic failover of replication sources ([taskmanager] auto_failover; one taskmanager acts per source)
	if m.Config.AutoFailover {
		go m.RunFailover(ctx)
	}
	// Trove publishes trove.instance.exists only with exists_notification_transformer set.
	if nc := notifier.Config(); notifier.Enabled() && nc.ExistsTransformer != "" {
		go m.ExistsLoop(ctx, nc.ExistsInterval)
	}
	// and dbaas.quota only with quota_notification_interval set.
	if nc := notifier.Config(); notifier.Enabled() && nc.QuotaInterval > 0 {
		go m.QuotaLoop(ctx, nc.QuotaInterval)
	}
	log.WithField("topic", topic).Info("taskmanager serving")
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), daemon.StopTimeout)
	defer cancel()
	if err := srv.Stop(sctx); err != nil {
		log.WithError(err).Warn("stopping RPC server")
	}
	// Running flows are cancelled; they resume at the next start.
	return m.Stop(sctx)
}
