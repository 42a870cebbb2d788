package taskapi

import (
	"context"

	"github.com/trove-go/trove/pkg/rpc"
)

// MethodUpdateOverrides is ours (Trove's API talks to the guest itself): push the instance's configuration
// group — the catalog's configuration_id, none = detached — to its guest. The API sets the task UPDATING first.
const MethodUpdateOverrides = "update_overrides"

// UpdateOverridesArgs is update_overrides.
type UpdateOverridesArgs struct {
	InstanceID string `json:"instance_id"`
}

// Validate checks the instance id.
func (a UpdateOverridesArgs) Validate() error { return validID("instance_id", a.InstanceID) }

// UpdateOverrides casts update_overrides.
func (c *Client) UpdateOverrides(ctx context.Context, rc rpc.Context, a UpdateOverridesArgs) error {
	return c.cast(ctx, rc, MethodUpdateOverrides, a)
}
