package mysql

import (
	"context"
	"strconv"

	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

var _ datastore.HealthReporter = (*Manager)(nil)

// Health reports the client connections (Threads_connected, the agent's own and replication's included) and,
// on a replica, its lag (Seconds_Behind_Master; none while its replication threads do not run).
func (m *Manager) Health(ctx context.Context) (datastore.Health, error) {
	db, err := m.admin()
	if err != nil {
		return datastore.Health{}, err
	}
	var conns int
	if err := db.QueryRowContext(ctx, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'THREADS_CONNECTED'").Scan(&conns); err != nil {
		return datastore.Health{}, redact(err)
	}
	h := datastore.Health{Up: true, Connections: conns}
	st, err := m.slaveStatus(ctx)
	if err != nil {
		return h, nil // the server answered; the lag is unknown
	}
	if st != nil {
		if lag, err := strconv.ParseFloat(st["Seconds_Behind_Master"], 64); err == nil {
			h.ReplicationLag = &lag
		}
	}
	return h, nil
}
