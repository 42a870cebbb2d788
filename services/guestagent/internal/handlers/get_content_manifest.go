package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// get_content_manifest — ours, call (high timeout: checksums read every row). Read-only, ordered after the
// writes before it. Restore drills ask a restored instance for its tables and their checksums.
func (h *Handlers) registerGetContentManifest(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodGetContentManifest, order: rpc.Read, logArgs: true},
		func(ctx context.Context, _ rpc.Context, a guestapi.GetContentManifestArgs) (guestapi.Contents, error) {
			return h.Agent.Contents(ctx, a.Checksums)
		})
}
