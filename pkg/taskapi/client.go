package taskapi

import (
	"context"
	"fmt"

	"github.com/trove-go/trove/pkg/rpc"
)

// Caster is the part of rpc.Client the taskmanager API uses (every taskmanager method is a cast).
type Caster interface {
	Cast(ctx context.Context, rc rpc.Context, method string, args any) error
}

// Target is the taskmanager target for a topic ([DEFAULT] taskmanager_queue; "" means Topic).
func Target(topic string) rpc.Target {
	if topic == "" {
		topic = Topic
	}
	return rpc.Target{Topic: topic, Version: Version}
}

// Client casts typed taskmanager methods. Build it from tr.Client(taskapi.Target(queue), codec) where codec is
// rpc.TroveCodec(taskmanager_rpc_encr_key) when enable_secure_rpc_messaging, else rpc.PlainCodec().
type Client struct{ c Caster }

// NewClient wraps an rpc client aimed at the taskmanager topic.
func NewClient(c Caster) *Client { return &Client{c: c} }

type validator interface{ Validate() error }

func (c *Client) cast(ctx context.Context, rc rpc.Context, method string, args validator) error {
	if err := args.Validate(); err != nil {
		return fmt.Errorf("taskmanager %s: %w", method, err)
	}
	return c.c.Cast(ctx, rc, method, args)
}

// CreateInstance casts create_instance.
func (c *Client) CreateInstance(ctx context.Context, rc rpc.Context, a CreateInstanceArgs) error {
	return c.cast(ctx, rc, MethodCreateInstance, a)
}

// DeleteInstance casts delete_instance.
func (c *Client) DeleteInstance(ctx context.Context, rc rpc.Context, a DeleteInstanceArgs) error {
	return c.cast(ctx, rc, MethodDeleteInstance, a)
}

// Restart casts restart.
func (c *Client) Restart(ctx context.Context, rc rpc.Context, a RestartArgs) error {
	return c.cast(ctx, rc, MethodRestart, a)
}

// ResizeVolume casts resize_volume.
func (c *Client) ResizeVolume(ctx context.Context, rc rpc.Context, a ResizeVolumeArgs) error {
	return c.cast(ctx, rc, MethodResizeVolume, a)
}

// Upgrade casts upgrade.
func (c *Client) Upgrade(ctx context.Context, rc rpc.Context, a UpgradeArgs) error {
	return c.cast(ctx, rc, MethodUpgrade, a)
}
