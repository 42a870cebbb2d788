package conductor

import (
	"context"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/rpc"
)

// envelopeKinds names the envelopes in log lines, in the order of Conductor.beats.
var envelopeKinds = [3]string{"plain", "trove", "aead"}

func envelopeKind(e rpc.Envelope) int {
	switch e {
	case rpc.EnvelopeTrove:
		return 1
	case rpc.EnvelopeAEAD:
		return 2
	}
	return 0
}

// accepted is the codec's report of a message it let through: one info line when an instance is first seen
// (since this conductor started) or its envelope changes.
func (c *Conductor) accepted(id string, env rpc.Envelope) {
	if id == "" {
		return
	}
	prev, seen := c.peers.Swap(id, env)
	switch {
	case !seen:
		c.Log.WithFields(logrus.Fields{"instance_id": id, "envelope": envelopeKinds[envelopeKind(env)]}).Info("RPC peer first seen")
	case prev != env:
		c.Log.WithFields(logrus.Fields{"instance_id": id, "envelope": envelopeKinds[envelopeKind(env)],
			"previous_envelope": envelopeKinds[envelopeKind(prev.(rpc.Envelope))]}).Info("RPC peer changed envelope")
	}
}

// LogHeartbeats logs, every `every` until ctx ends, one info line counting the heartbeats applied in that
// interval by envelope (heartbeats_plain, heartbeats_trove, heartbeats_aead); nothing for an interval without any.
func (c *Conductor) LogHeartbeats(ctx context.Context, every time.Duration) {
	tick(ctx, every, func() {
		fields, total := logrus.Fields{"interval_seconds": every.Seconds()}, uint64(0)
		for i, kind := range envelopeKinds {
			n := c.beats[i].Swap(0)
			fields["heartbeats_"+kind] = n
			total += n
		}
		if total > 0 {
			c.Log.WithFields(fields).Info("heartbeats accepted")
		}
	})
}
