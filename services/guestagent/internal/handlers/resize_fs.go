package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// resize_fs — call (high timeout, version 1.1). Payload logged. Local semantics: the compute driver has grown
// the volume by rewriting [local] volume_size_gb; the guest re-reads it and enforces the new size. Idempotent.
func (h *Handlers) registerResizeFS(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodResizeFS, order: rpc.Write, logArgs: true},
		func(ctx context.Context, _ rpc.Context, _ guestapi.ResizeFSArgs) (void, error) {
			return void{}, h.Agent.ResizeFS(ctx)
		})
}
