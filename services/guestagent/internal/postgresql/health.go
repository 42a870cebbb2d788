package postgresql

import (
	"context"
	"fmt"
	"strconv"

	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

var _ datastore.HealthReporter = (*Manager)(nil)

// Health reports the client backends (the agent's own query included) and, on a standby, its lag: 0 when it
// has replayed everything it received, else the age of the last replayed transaction.
func (m *Manager) Health(ctx context.Context) (datastore.Health, error) {
	rows, err := m.query(ctx, "postgres", "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'), "+
		"CASE WHEN pg_is_in_recovery() THEN CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "+
		"ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END END")
	if err != nil {
		return datastore.Health{}, err
	}
	if len(rows) != 1 || len(rows[0]) != 2 {
		return datastore.Health{}, fmt.Errorf("health query: unexpected result %v", rows)
	}
	conns, err := strconv.Atoi(rows[0][0])
	if err != nil {
		return datastore.Health{}, fmt.Errorf("health query: connections %q", rows[0][0])
	}
	h := datastore.Health{Up: true, Connections: conns}
	if rows[0][1] != "" {
		if lag, err := strconv.ParseFloat(rows[0][1], 64); err == nil {
			h.ReplicationLag = &lag
		}
	}
	return h, nil
}
