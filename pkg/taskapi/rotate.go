package taskapi

import (
	"context"
	"github.com/trove-go/trove/pkg/rpc"
)

// Our taskmanager methods (not Trove's): per-instance RPC key rotation without a rebuild (docs/secure-rpc.md).
const (
	MethodRotateRPCKey  = "rotate_rpc_key"  // one instance
	MethodRotateRPCKeys = "rotate_rpc_keys" // every keyed instance
)

// RotateRPCKeyArgs is rotate_rpc_key.
type RotateRPCKeyArgs struct {
	InstanceID string `json:"instance_id"`
}

// Validate checks the id.
func (a RotateRPCKeyArgs) Validate() error { return validID("instance_id", a.InstanceID) }

// RotateRPCKeysArgs is rotate_rpc_keys; TenantID "" means every project.
type RotateRPCKeysArgs struct {
	TenantID string `json:"tenant_id,omitempty"`
}

// Validate checks the optional project id.
func (a RotateRPCKeysArgs) Validate() error {
	if a.TenantID == "" {
		return nil
	}
	return validID("tenant_id", a.TenantID)
}

// RotateRPCKey casts rotate_rpc_key.
func (c *Client) RotateRPCKey(ctx context.Context, rc rpc.Context, a RotateRPCKeyArgs) error {
	return c.cast(ctx, rc, MethodRotateRPCKey, a)
}

// RotateRPCKeys casts rotate_rpc_keys.
func (c *Client) RotateRPCKeys(ctx context.Context, rc rpc.Context, a RotateRPCKeysArgs) error {
	return c.cast(ctx, rc, MethodRotateRPCKeys, a)
}
