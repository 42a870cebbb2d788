// Command trove-conductor receives guest reports (heartbeats, root, notifications) on [DEFAULT] conductor_queue
// and writes them to the catalog.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/conductorapi"
	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/logging"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/conductor/internal/conductor"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "trove-conductor:", err)
		os.Exit(1)
	}
}

func run() error {
	f, err := config.FromCommandLine("trove-conductor", os.Args[1:], config.Paths{Files: []string{"/etc/trove/trove.conf"}})
	if err != nil {
		return err
	}
	log, err := logging.FromConfig("trove-conductor", f)
	if err != nil {
		return err
	}
	rpcCfg := rpc.ConfigFrom(f)
	topic := f.String("DEFAULT", "conductor_queue", conductorapi.DefaultTopic)
	host := f.String("DEFAULT", "host", "0.0.0.0")
	workers := f.Int("DEFAULT", "trove_conductor_workers", 8)
	wrapKey := f.String("DEFAULT", "inst_rpc_key_encr_key", keyring.DefaultInstanceWrapKey)
	refuse := f.Bool("DEFAULT", "refuse_default_keys", false)
	if err := f.Err(); err != nil {
		return err
	}
	if err := keyring.GuardDefaultKeys(map[string]string{"inst_rpc_key_encr_key": wrapKey}, refuse, func(err error) {
		log.WithError(err).Error("SECURITY WARNING: default key in use (set refuse_default_keys = true to refuse starting)")
	}); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	db, err := catalog.Open(f.String("database", "connection", ""))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.CheckSchema(ctx); err != nil {
		return err
	}
	tr, err := rpc.Dial(ctx, rpcCfg, log)
	if err != nil {
		return err
	}
	defer tr.Close()

	c := &conductor.Conductor{Catalog: db, WrapKey: wrapKey, Log: log}
	srv := tr.NewServer(rpc.ServerConfig{Topic: topic, Server: host, Version: conductorapi.Version, Codec: c.Codec(), Concurrency: workers})
	c.Register(srv)
	if err := srv.Start(ctx); err != nil {
		return err
	}
	log.WithField("topic", topic).Info("conductor serving")
	go conductor.LogRejects(ctx, log, 10*time.Second)
	go c.LogHeartbeats(ctx, 60*time.Second)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Stop(sctx)
}
