package guestapi

import (
	"context"
	"errors"
	"strings"

	"github.com/trove-go/trove/pkg/rpc"
)

// MethodRotateRPCKey is ours (not Trove's): the control plane hands the guest a new instance key over the
// channel sealed with the current one (docs/secure-rpc.md).
const MethodRotateRPCKey = "rotate_rpc_key"

// RotateRPCKeyArgs is rotate_rpc_key (call, low). new_key is a secret: never log.
type RotateRPCKeyArgs struct {
	NewKey string `json:"new_key"`
	// OverlapSeconds is how long the guest keeps accepting the old key (requests already on their way).
	OverlapSeconds float64 `json:"overlap_seconds"`
}

// Validate requires a key of Trove's shape (printable, no spaces, at least 16 characters) and a non-negative
// overlap.
func (a RotateRPCKeyArgs) Validate() error {
	var errs []error
	if len(a.NewKey) < 16 || len(a.NewKey) > 256 || strings.ContainsAny(a.NewKey, " \t\r\n=#;") {
		errs = append(errs, errors.New("new_key must be 16–256 printable characters without spaces, '=', '#' or ';'"))
	}
	if a.OverlapSeconds < 0 {
		errs = append(errs, errors.New("overlap_seconds must not be negative"))
	}
	return errors.Join(errs...)
}

// RotateRPCKey calls rotate_rpc_key (low). The client's codec must hold the key the guest has now.
func (c *Client) RotateRPCKey(ctx context.Context, rc rpc.Context, a RotateRPCKeyArgs) error {
	return c.call(ctx, rc, MethodRotateRPCKey, a, nil, c.Low)
}
