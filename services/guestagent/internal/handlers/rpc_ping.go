package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// rpc_ping — call (low timeout). No payload. Answers true whenever the agent is serving. Unordered: it answers
// while a long write (prepare, restart, upgrade) holds the instance's turn (taskmanager's rotation check).
func (h *Handlers) registerRPCPing(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodRPCPing, order: rpc.Unordered, logArgs: true},
		func(context.Context, rpc.Context, guestapi.NoArgs) (bool, error) { return true, nil })
}
