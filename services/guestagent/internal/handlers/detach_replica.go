package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// detach_replica — call (high timeout). Payload logged (for_failover only). Write. Not resumed; repeatable
// (a standalone server stays standalone).
func (h *Handlers) registerDetachReplica(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodDetachReplica, order: rpc.Write, logArgs: true},
		func(ctx context.Context, _ rpc.Context, _ guestapi.DetachReplicaArgs) (void, error) {
			return void{}, h.Agent.DetachReplica(ctx)
		})
}
