package handlers

import (
	"context"
	"time"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// Rotator switches the guest's RPC key (rpckeys.Keys).
type Rotator interface {
	Rotate(newKey string, overlap time.Duration) error
}

// rotate_rpc_key — call (low), ours. Payload is a secret: never logged. Arrives sealed with the current key;
// the reply is sealed with that key too, and from then on the guest sends under the new key. Idempotent.
func (h *Handlers) registerRotateRPCKey(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodRotateRPCKey, order: rpc.Write},
		func(_ context.Context, _ rpc.Context, a guestapi.RotateRPCKeyArgs) (void, error) {
			if h.Keys == nil {
				return void{}, rpc.Errorf("GuestError", "key rotation is not available on this guest")
			}
			return void{}, h.Keys.Rotate(a.NewKey, time.Duration(a.OverlapSeconds*float64(time.Second)))
		})
}
