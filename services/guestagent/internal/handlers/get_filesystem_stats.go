package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// get_filesystem_stats — call (low timeout). Payload logged. Read-only: du of the data directory against the
// enforced volume size, in Trove's shape. Unordered: trove-api's instance show asks it with a short timeout and
// must not wait behind a prepare or restart; it reads the volume, not the datastore, so no write changes its answer
// in a way a caller relies on.
func (h *Handlers) registerGetFilesystemStats(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodGetFilesystemStats, order: rpc.Unordered, logArgs: true},
		func(ctx context.Context, _ rpc.Context, _ guestapi.GetFilesystemStatsArgs) (guestapi.FilesystemStats, error) {
			return h.Agent.VolumeStats(ctx)
		})
}
