package api

import (
	"context"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// RPCGuests reaches guest agents over the message bus with each instance's codec: plaintext for legacy
// instances without a key, else Trove's envelope or AEAD as recorded in rpc_peers (catalog.InstancePeer), and
// sends what the instance's guest agent accepts: ours every method, Trove's what Cap allows.
type RPCGuests struct {
	Catalog   *catalog.DB
	Transport *rpc.Transport
	WrapKey   string        // inst_rpc_key_encr_key
	Low, High time.Duration // agent_call_low_timeout / agent_call_high_timeout (0: guestapi defaults)
	Cap       guestapi.Cap  // [upgrade_levels] guestagent (zero: latest)
}

// Guest implements Guests.
func (g RPCGuests) Guest(ctx context.Context, instanceID string) (Guest, error) {
	codec, peer, err := g.peer(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	c := guestapi.New(g.Transport.Client(guestapi.Target(instanceID), codec))
	c.Peer = peer
	if g.Low > 0 {
		c.Low = g.Low
	}
	if g.High > 0 {
		c.High = g.High
	}
	return c, nil
}

// peer returns the instance's codec and what its guest may be sent.
func (g RPCGuests) peer(ctx context.Context, id string) (rpc.Codec, guestapi.Peer, error) {
	p, err := g.Catalog.InstancePeer(ctx, g.WrapKey, id)
	if err != nil {
		return nil, guestapi.Peer{}, err
	}
	k := p.RPC()
	codec, err := rpc.GuestCodec(id, k.Keys, k.Envelope)
	return codec, guestapi.Peer{InstanceID: id, Agent: guestapi.AgentFor(p.Recorded), Cap: g.Cap}, err
}
