package datastore

import "context"

// Health is the database's health the agent sends with each heartbeat (ours; conductorapi.Health on the wire).
type Health struct {
	Up          bool
	Connections int
	// ReplicationLag is how many seconds a replica is behind its source; nil on a source or standalone server.
	ReplicationLag *float64
}

// HealthReporter is a Manager that reports its database's health. An error means the database did not answer
// (the agent reports it down).
type HealthReporter interface {
	Health(ctx context.Context) (Health, error)
}
