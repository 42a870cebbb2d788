// Command trove-api serves OpenStack Trove's REST API v1.0 (wiring only; see internal/api).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/compute/drivers"
	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/keystone"
	"github.com/trove-go/trove/pkg/logging"
	"github.com/trove-go/trove/pkg/metrics"
	"github.com/trove-go/trove/pkg/notification"
	"github.com/trove-go/trove/pkg/policy"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/taskapi"
	"github.com/trove-go/trove/services/api/internal/api"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "trove-api:", err)
		os.Exit(1)
	}
}

// gcPercent is the GC target used unless GOGC is set: the API's live heap is a few MB, so the default 100 spends
// ~10% of a list's CPU in the collector; 200 halves that for ~4 MB more RSS (BenchmarkAPI: 19.5 → 23 MB).
const gcPercent = 200

func run() error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	file, err := config.FromCommandLine("trove-api", os.Args[1:], config.Paths{Files: []string{"/etc/trove/trove.conf"}})
	if err != nil {
		return err
	}
	log, err := logging.FromConfig("trove-api", file)
	if err != nil {
		return err
	}
	cfg, err := api.ConfigFrom(file)
	if err != nil {
		return err
	}
	ksCfg := keystone.ConfigFrom(file)
	rpcCfg := rpc.ConfigFrom(file)
	enforcer, err := policy.FromConfig(file)
	if err != nil {
		return err
	}
	if err := file.Err(); err != nil {
		return err
	}
	guestCap, err := guestapi.CapFrom(file)
	if err != nil {
		return err
	}
	if cfg.EnableSecureRPC {
		keys := map[string]string{"taskmanager_rpc_encr_key": cfg.TaskmanagerRPCKey, "inst_rpc_key_encr_key": cfg.InstRPCKeyEncrKey}
		if err := keyring.GuardDefaultKeys(keys, cfg.RefuseDefaultKeys, func(err error) {
			log.WithError(err).Error("SECURITY WARNING: default key in use (set refuse_default_keys = true to refuse starting)")
		}); err != nil {
			return err
		}
	}

	stopPprof, err := servePprof(cfg.PprofBind, log)
	if err != nil {
		return err
	}
	defer stopPprof()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The API's queries are short reads: let the driver interpolate arguments (one round trip instead of
	// prepare/execute/close; safe with the utf8mb4 connection charset). Saves ~15% CPU per instance list.
	dbCfg, err := catalog.ParseConnection(cfg.DatabaseConnection)
	if err != nil {
		return err
	}
	dbCfg.InterpolateParams = true
	db, err := catalog.Open(dbCfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	// Keep as many idle connections as open ones: under concurrent lists a smaller idle pool closes and
	// reopens MariaDB connections on every burst.
	db.SetMaxIdleConns(20)
	if err := db.CheckSchema(ctx); err != nil {
		return fmt.Errorf("%w (run trove-manage db_sync)", err)
	}

	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	ks, err := keystone.New(startCtx, ksCfg)
	if err != nil {
		return err
	}
	tr, err := rpc.Dial(startCtx, rpcCfg, log)
	if err != nil {
		return err
	}
	defer tr.Close()
	codec := rpc.PlainCodec()
	if cfg.EnableSecureRPC {
		codec = rpc.TroveCodec(cfg.TaskmanagerRPCKey)
	}
	tm := taskapi.NewClient(tr.Client(taskapi.Target(cfg.TaskmanagerQueue), codec))
	notifyCfg, err := notification.ConfigFrom(file)
	if err != nil {
		return err
	}
	notifier, err := notification.New(startCtx, notifyCfg, rpcCfg, tr, log)
	if err != nil {
		return err
	}
	defer notifier.Close()
	var taskmanager api.TaskManager = tm
	if notifier.Enabled() {
		taskmanager = &api.NotifyingTaskManager{Client: tm, Notify: notifier, Region: notifyCfg.Region}
	}
	var httpMetrics *metrics.HTTP
	if metricsBind, err := metrics.BindFrom(file); err != nil {
		return err
	} else if metricsBind != "" {
		reg := metrics.NewRegistry()
		httpMetrics = metrics.NewHTTP(reg)
		tr.SetObserver(metrics.NewRPC(reg))
		if _, err := metrics.Serve(ctx, metricsBind, reg, log); err != nil {
			return err
		}
	}

	guests := api.RPCGuests{Catalog: db, Transport: tr, WrapKey: cfg.InstRPCKeyEncrKey, Low: cfg.AgentCallLow, High: cfg.AgentCallHigh, Cap: guestCap}
	var servers api.Servers
	var flavors api.Flavors // nil: [local_flavors]
	onCloud := file.String("DEFAULT", "compute_driver", "local") != "local"
	if drv, err := drivers.FromConfig(file, log); err != nil && onCloud {
		return fmt.Errorf("compute driver (flavors, networks and addresses come from it): %w", err)
	} else if err != nil {
		log.WithError(err).Warn("compute driver: instance addresses will not be shown")
	} else {
		servers = drv
		if onCloud {
			flavors = api.DriverFlavors{Driver: drv}
		}
	}
	a := api.New(api.Deps{
		Config: cfg, Catalog: db, Validator: ks, WWWAuthenticate: ks.WWWAuthenticate(), Policy: enforcer,
		TaskManager: taskmanager, Guests: guests, Servers: servers, Flavors: flavors, Log: log.WithField("component", "api"), Metrics: httpMetrics,
		Notify: notifier,
	})
	err = a.Serve(ctx, nil)
	logrus.WithField("service", "trove-api").Info("stopped")
	return err
}
