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
	t := time.NewTicker(every)
	defer t.Stop()
	last := map[string]uint64{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := rpc.RejectCounts()
		if maps.Equal(now, last) {
			continue
		}
		fields := logrus.Fields{}
		for reason, n := range now {
			fields["rejected_"+reason] = n
		}
		log.WithFields(fields).Warn("RPC messages rejected so far")
		last = now
	}
}
