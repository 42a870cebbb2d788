package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// attach_replica — call (high timeout). Payload not logged (the source's replication password). Write. Not
// resumed: the server keeps following its source across restarts once attached; the taskmanager repeats a
// failed call, and attaching again to the same source is harmless.
func (h *Handlers) registerAttachReplica(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodAttachReplica, order: rpc.Write},
		func(ctx context.Context, _ rpc.Context, a guestapi.AttachReplicaArgs) (void, error) {
			return void{}, h.Agent.AttachReplica(ctx, a.ReplicaInfo)
		})
}
