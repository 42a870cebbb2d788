package conductor

import (
	"context"
	"maps"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/rpc"
)

// LogRejects logs the process's RPC reject counters (rpc.RejectCounts: plaintext from a keyed instance,
// undecryptable, replay, …) every `every` while they change, one line with the totals by reason, until ctx ends.
// Each rejected message is also logged on its own by the RPC server ("rejected RPC message").
func LogRejects(ctx context.Context, log logrus.FieldLogger, every time.Duration) {
	last := map[string]uint64{}
	tick(ctx, every, func() {
		now := rpc.RejectCounts()
		if maps.Equal(now, last) {
			return
		}
		fields := logrus.Fields{}
		for reason, n := range now {
			fields["rejected_"+reason] = n
		}
		log.WithFields(fields).Warn("RPC messages rejected so far")
		last = now
	})
}

// tick calls fn every d until ctx ends.
func tick(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
