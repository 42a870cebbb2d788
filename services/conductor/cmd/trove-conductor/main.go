// Command trove-conductor receives guest reports (heartbeats, root, notifications) on [DEFAULT] conductor_queue
// and writes them to the catalog.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/trove-go/trove/pkg/conductorapi"
	"github.com/trove-go/trove/pkg/daemon"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/metrics"
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
	d, err := daemon.Load("trove-conductor", os.Args[1:])
	if err != nil {
		return err
	}
	f, log := d.Config, d.Log
	topic := f.String("DEFAULT", "conductor_queue", conductorapi.DefaultTopic)
	host := f.String("DEFAULT", "host", "0.0.0.0")
	workers := f.Int("DEFAULT", "trove_conductor_workers", 8)
	wrapKey := f.String("DEFAULT", "inst_rpc_key_encr_key", keyring.DefaultInstanceWrapKey)
	refuse := f.Bool("DEFAULT", "refuse_default_keys", false)
	if err := f.Err(); err != nil {
		return err
	}
	if err := d.GuardDefaultKeys(map[string]string{"inst_rpc_key_encr_key": wrapKey}, refuse); err != nil {
		return err
	}

	ctx, stop := daemon.SignalContext()
	defer stop()
	if err := d.Connect(ctx); err != nil {
		return err
	}
	defer d.Close()

	notifier, err := d.Notifier(ctx)
	if err != nil {
		return err
	}
	defer notifier.Close()
	reg, err := d.Metrics(ctx)
	if err != nil {
		return err
	}
	if reg != nil {
		expiry := f.Seconds("DEFAULT", "agent_heartbeat_expiry", 90)
		reg.MustRegister(&metrics.Instances{List: d.Catalog.LiveInstances, Expiry: expiry, Heartbeats: true, Log: log})
	}
	c := &conductor.Conductor{Catalog: d.Catalog, WrapKey: wrapKey, Log: log, Notify: notifier}
	srv := d.Transport.NewServer(rpc.ServerConfig{Topic: topic, Server: host, Version: conductorapi.Version, Codec: c.Codec(), Concurrency: workers})
	c.Register(srv)
	if err := srv.Start(ctx); err != nil {
		return err
	}
	log.WithField("topic", topic).Info("conductor serving")
	go conductor.LogRejects(ctx, log, 10*time.Second)
	go c.LogHeartbeats(ctx, 60*time.Second)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), daemon.StopTimeout)
	defer cancel()
	return srv.Stop(sctx)
}
