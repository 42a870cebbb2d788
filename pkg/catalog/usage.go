package catalog

import (
	"context"
	"strings"
	"time"

	"github.com/trove-go/trove/pkg/status"
)

// LiveInstance is a live instance with what usage notifications (trove.instance.exists) and the metrics of
// instance counts and heartbeat ages need: its guest status row and its datastore.
type LiveInstance struct {
	Instance
	StatusID         *int       `db:"status_id"`  // nil: no service_statuses row yet
	HeartbeatAt      *time.Time `db:"heartbeat"`  // service_statuses.updated_at
	Datastore        string     `db:"datastore"`  // datastores.name
	DatastoreVer     string     `db:"ds_version"` // datastore_versions.name
	DatastoreManager string     `db:"manager"`    // datastore_versions.manager
	// The guest's last reported health (instance_health; nil without a report).
	HealthUp          *bool    `db:"health_up"`
	HealthConnections *int     `db:"health_connections"`
	ReplicationLag    *float64 `db:"replication_lag"`
}

// Status is the API status the instance shows, without the compute server's view (an instance past BUILD is
// taken as having an ACTIVE server) and without running backups.
func (l LiveInstance) Status(now time.Time, expiry time.Duration) string {
	svc, age := status.Unknown, time.Duration(1<<63-1)
	if l.StatusID != nil {
		svc = ServiceStatusRow{StatusID: *l.StatusID}.Status()
	}
	if l.HeartbeatAt != nil {
		age = now.Sub(*l.HeartbeatAt)
	}
	server := status.StatusActive
	if l.Task().Code == status.TaskBuilding.Code {
		server = status.StatusBuild
	}
	shown, _ := status.Derive(l.Task(), server, svc, false, age, expiry)
	return shown
}

var liveInstanceCols = strings.ReplaceAll(instanceColsTmpl, "@.", "i.")

// LiveInstances lists every live (not deleted) instance of every tenant with its guest status and datastore.
func (d *DB) LiveInstances(ctx context.Context) ([]LiveInstance, error) {
	var rows []LiveInstance
	err := d.x.SelectContext(ctx, &rows, "SELECT "+liveInstanceCols+`, s.status_id AS status_id, s.updated_at AS heartbeat,
		COALESCE(ds.name, '') AS datastore, COALESCE(v.name, '') AS ds_version, COALESCE(v.manager, '') AS manager,
		h.up AS health_up, h.connections AS health_connections, h.replication_lag AS replication_lag
		FROM instances i LEFT JOIN service_statuses s ON s.instance_id = i.id LEFT JOIN instance_health h ON h.instance_id = i.id
		LEFT JOIN datastore_versions v ON v.id = i.datastore_version_id LEFT JOIN datastores ds ON ds.id = v.datastore_id
		WHERE i.deleted = 0 ORDER BY i.id`)
	return rows, err
}
