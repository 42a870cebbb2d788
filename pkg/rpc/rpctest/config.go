package rpctest

import (
	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/rpc"
)

// Config is rpc.ConfigFrom of an empty configuration file with the given transport URL and control exchange.
func Config(transportURL, controlExchange string) rpc.Config {
	f, _ := config.Parse("")
	c := rpc.ConfigFrom(f)
	c.TransportURL, c.ControlExchange = transportURL, controlExchange
	return c
}
