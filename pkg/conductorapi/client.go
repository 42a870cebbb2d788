package conductorapi

import (
	"context"
	"time"

	"github.com/trove-go/trove/pkg/rpc"
)

// Client casts conductor methods; build its rpc.Client with Target(topic) and, on a guest,
// rpc.ConductorGuestCodec.
type Client struct {
	rpc *rpc.Client
	Now func() time.Time // clock for `sent`; time.Now by default
}

// Target is the conductor's RPC target for topic ("" → trove-conductor).
func Target(topic string) rpc.Target {
	if topic == "" {
		topic = DefaultTopic
	}
	return rpc.Target{Topic: topic, Version: Version}
}

// New wraps an rpc.Client.
func New(c *rpc.Client) *Client { return &Client{rpc: c, Now: time.Now} }

// Heartbeat casts heartbeat with the status description, the database's health when known (nil: not sent)
// and sent = now.
func (c *Client) Heartbeat(ctx context.Context, rc rpc.Context, instanceID, status string, health *Health) error {
	a := HeartbeatArgs{InstanceID: instanceID, Payload: HeartbeatPayload{ServiceStatus: status, Health: health}, Sent: Sent(c.Now())}
	if err := a.Validate(); err != nil {
		return err
	}
	return c.rpc.Cast(ctx, rc, MethodHeartbeat, a)
}

// UpdateBackup casts update_backup; a zero Sent is set to now.
func (c *Client) UpdateBackup(ctx context.Context, rc rpc.Context, a UpdateBackupArgs) error {
	if a.Sent == 0 {
		a.Sent = Sent(c.Now())
	}
	if err := a.Validate(); err != nil {
		return err
	}
	return c.rpc.Cast(ctx, rc, MethodUpdateBackup, a)
}

// ReportRoot casts report_root.
func (c *Client) ReportRoot(ctx context.Context, rc rpc.Context, instanceID string) error {
	a := ReportRootArgs{InstanceID: instanceID}
	if err := a.Validate(); err != nil {
		return err
	}
	return c.rpc.Cast(ctx, rc, MethodReportRoot, a)
}

// NotifyEnd casts notify_end.
func (c *Client) NotifyEnd(ctx context.Context, rc rpc.Context, a NotifyEndArgs) error {
	if err := a.Validate(); err != nil {
		return err
	}
	return c.rpc.Cast(ctx, rc, MethodNotifyEnd, a)
}

// NotifyExcInfo casts notify_exc_info.
func (c *Client) NotifyExcInfo(ctx context.Context, rc rpc.Context, a NotifyExcInfoArgs) error {
	if err := a.Validate(); err != nil {
		return err
	}
	return c.rpc.Cast(ctx, rc, MethodNotifyExcInfo, a)
}
