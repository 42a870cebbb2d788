package daemon

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trove-go/trove/pkg/metrics"
	"github.com/trove-go/trove/pkg/notification"
)

// Notifier builds the service's notifier from [oslo_messaging_notifications] and [DEFAULT] (after Connect: it
// publishes on the RPC transport unless the section names a broker of its own). Close it after use.
func (d *Daemon) Notifier(ctx context.Context) (*notification.Notifier, error) {
	cfg, err := notification.ConfigFrom(d.Config)
	if err != nil {
		return nil, err
	}
	n, err := notification.New(ctx, cfg, d.RPC, d.Transport, d.Log)
	if err != nil {
		return nil, err
	}
	d.Log.WithField("driver", cfg.Driver).WithField("topics", cfg.Topics).Info("notifications")
	return n, nil
}

// Metrics serves /metrics on [DEFAULT] metrics_bind until ctx ends, with the RPC metrics of the transport (after
// Connect) and what the service registers on the returned registry. With metrics_bind unset it returns nil
// and serves nothing.
func (d *Daemon) Metrics(ctx context.Context) (*prometheus.Registry, error) {
	addr, err := metrics.BindFrom(d.Config)
	if err != nil || addr == "" {
		return nil, err
	}
	reg := metrics.NewRegistry()
	d.Transport.SetObserver(metrics.NewRPC(reg))
	if _, err := metrics.Serve(ctx, addr, reg, d.Log); err != nil {
		return nil, err
	}
	return reg, nil
}
