package guestapi

import (
	"context"
	"time"

	"github.com/trove-go/trove/pkg/rpc"
)

// MethodGetRecoveryWindow is get_recovery_window (ours, call): what the guest has shipped of its transaction
// log for point-in-time recovery.
const MethodGetRecoveryWindow = "get_recovery_window"

// RecoveryWindow is get_recovery_window's answer: Shipping reports whether the guest ships its log; FirstShipped
// and LastShipped are the archive times of the first and last log file it shipped (nil: none yet). Any
// backup of the instance made after FirstShipped can be restored to any time up to LastShipped.
type RecoveryWindow struct {
	Shipping     bool       `json:"shipping"`
	FirstShipped *time.Time `json:"first_shipped"`
	LastShipped  *time.Time `json:"last_shipped"`
	LastFile     string     `json:"last_file,omitempty"`
}

// GetRecoveryWindow calls get_recovery_window (low).
func (c *Client) GetRecoveryWindow(ctx context.Context, rc rpc.Context) (RecoveryWindow, error) {
	var r RecoveryWindow
	err := c.call(ctx, rc, MethodGetRecoveryWindow, NoArgs{}, &r, c.Low)
	return r, err
}
