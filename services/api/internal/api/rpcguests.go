package api

import (
	"context"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// RPCGuests reaches guest agents over the message bus with each instance's codec: plaintext for legacy
// instances without a key, else Trove's envelope or AEAD as recorded in rpc_peers (catalog.InstanceKeys).
type RPCGuests struct {
	Catalog   *catalog.DB
	Transport *rpc.Transport
	WrapKey   string        // inst_rpc_key_encr_key
	Low, High time.Duration // agent_call_low_timeout / agent_call_high_timeout (0: guestapi defaults)
}

// Guest implements Guests.
func (g RPCGuests) Guest(ctx context.Context, instanceID string) (Guest, error) {
	codec, err := g.codec(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	c := guestapi.New(g.Transport.Client(guestapi.Target(instanceID), codec))
	if g.Low > 0 {
		c.Low = g.Low
	}
	if g.High > 0 {
		c.High = g.High
	}
	return c, nil
}

func (g RPCGuests) codec(ctx context.Context, id string) (rpc.Codec, error) {
	keys, envelope, err := g.Catalog.InstanceKeys(ctx, g.WrapKey, id)
	if err != nil {
		return nil, err
	}
	return rpc.GuestCodec(id, keys, rpc.Envelope(envelope))
}
