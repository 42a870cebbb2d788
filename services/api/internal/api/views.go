package api

import (
	"encoding/json"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/status"
)

// timeFormat is Trove's naive ISO-8601 (UTC, no zone, no fraction).
const timeFormat = "2006-01-02T15:04:05"

type idLinks struct {
	ID    string        `json:"id"`
	Links resourceLinks `json:"links"`
}

type instanceDatastore struct {
	Type          *string `json:"type"`
	Version       *string `json:"version"`
	VersionNumber *string `json:"version_number,omitempty"`
}

// instanceVolume is the view's {"size"} plus, on show, the guest's usage; withExtra merges the manager's extra
// keys, as Trove does.
type instanceVolume struct {
	Size        int      `json:"size"`
	Used        *float64 `json:"used,omitempty"`
	UsedPercent *float64 `json:"used_percent,omitempty"`
}

// withExtra is v with the manager's extra keys merged in (show's volume when the guest reports any).
func (v *instanceVolume) withExtra(extra map[string]any) any {
	if len(extra) == 0 {
		return v
	}
	m := make(map[string]any, 3+len(extra))
	for k, x := range extra {
		m[k] = x
	}
	m["size"] = v.Size
	if v.Used != nil {
		m["used"] = *v.Used
	}
	if v.UsedPercent != nil {
		m["used_percent"] = *v.UsedPercent
	}
	return m
}

type addressView struct {
	Address string `json:"address"`
	Type    string `json:"type"`
	Network string `json:"network,omitempty"`
}

type instanceFault struct {
	Message string  `json:"message"`
	Created string  `json:"created"`
	Details *string `json:"details"`
}

type configurationRef struct {
	ID    string        `json:"id"`
	Name  string        `json:"name,omitempty"`
	Links resourceLinks `json:"links"`
}

// instanceView is Trove's InstanceView / InstanceDetailView; detail-only and admin-only keys are pointers or
// omitempty so the list view does not carry them.
type instanceView struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Status          string            `json:"status"`
	OperatingStatus string            `json:"operating_status"`
	Links           resourceLinks     `json:"links"`
	Flavor          idLinks           `json:"flavor"`
	Datastore       instanceDatastore `json:"datastore"`
	Region          string            `json:"region"`
	Access          json.RawMessage   `json:"access"`
	Volume          any               `json:"volume,omitempty"` // *instanceVolume, or its map with extra keys
	Hostname        string            `json:"hostname,omitempty"`
	IP              []string          `json:"ip,omitempty"`
	Addresses       []addressView     `json:"addresses,omitempty"`
	ReplicaOf       *idLinks          `json:"replica_of,omitempty"`
	Replicas        []idLinks         `json:"replicas,omitempty"`
	TenantID        string            `json:"tenant_id,omitempty"`

	Created              string            `json:"created,omitempty"`
	Updated              string            `json:"updated,omitempty"`
	ServiceStatusUpdated string            `json:"service_status_updated,omitempty"`
	Fault                *instanceFault    `json:"fault,omitempty"`
	Configuration        *configurationRef `json:"configuration,omitempty"`
	ClusterID            string            `json:"cluster_id,omitempty"`
	ShardID              string            `json:"shard_id,omitempty"`
	ServerID             json.RawMessage   `json:"server_id,omitempty"`
	VolumeID             json.RawMessage   `json:"volume_id,omitempty"`
	EncryptedRPC         *bool             `json:"encrypted_rpc_messaging,omitempty"`
	Password             string            `json:"password,omitempty"`
	// BackupSchedules (ours) is shown to admins by instance show.
	BackupSchedules []backupScheduleView `json:"backup_schedules,omitempty"`
	// Health (ours) is the database's health the guest last reported, shown to admins by instance show.
	Health *healthView `json:"health,omitempty"`
}

// healthView is an instance's last reported database health (catalog.Health): replication_lag_seconds only on
// a replica.
type healthView struct {
	Up             bool     `json:"up"`
	Connections    int      `json:"connections"`
	ReplicationLag *float64 `json:"replication_lag_seconds,omitempty"`
	Updated        string   `json:"updated"`
}

// instanceList is the body of GET /instances and /instances/detail; links (the next page) only when there is one.
type instanceList struct {
	Instances []instanceView `json:"instances"`
	Links     []link         `json:"links,omitempty"`
}

// instanceInfo is everything render needs about one instance beyond its row.
type instanceInfo struct {
	row     *catalog.Instance
	version *catalog.DatastoreVersion // nil when the version row is gone
	dsName  string
	svc     *catalog.ServiceStatusRow // nil when missing
	backup  bool
	keySet  bool // the list read only whether row has a key
	fault   *catalog.Fault
	// replicas are the ids of the instance's live replicas (Trove's slaves), oldest first.
	replicas []string
}

var emptyAccess = json.RawMessage(`{}`)

// serverStatus is what the compute layer says about the server. For the local driver a server exists once
// compute_instance_id is recorded; BUILDING tasks show BUILD without asking (Trove does the same with Nova).
func serverStatus(row *catalog.Instance) string {
	if row.Task().Action == status.TaskBuilding.Action {
		return status.StatusBuild
	}
	if row.ComputeInstanceID != "" {
		return status.StatusActive
	}
	return status.StatusShutdown
}

// renderInstance builds the list (detail=false) or detail view.
func (a *API) renderInstance(base baseURL, in *instanceInfo, detail, admin bool, now time.Time) instanceView {
	row := in.row
	svc := status.Unknown
	age := time.Duration(1<<63 - 1)
	if in.svc != nil {
		svc = in.svc.Status()
		age = in.svc.HeartbeatAge(now)
	}
	st, op := status.Derive(row.Task(), serverStatus(row), svc, in.backup, age, a.cfg.HeartbeatExpiry)
	v := instanceView{
		ID: row.ID, Name: row.Name, Status: st, OperatingStatus: op,
		Links:  base.links("instances", row.ID),
		Flavor: idLinks{ID: row.FlavorID, Links: base.links("flavors", row.FlavorID)},
		Region: row.RegionID, Hostname: row.Hostname,
	}
	if in.version != nil {
		// Pointers into in and the shared version row (read only): no copies per instance.
		v.Datastore.Type, v.Datastore.Version = &in.dsName, &in.version.Name
		if detail {
			num := in.version.Version
			v.Datastore.VersionNumber = &num
		}
	}
	v.Access = emptyAccess
	if row.Access != "" && json.Valid([]byte(row.Access)) {
		v.Access = json.RawMessage(row.Access)
	}
	if row.VolumeSize > 0 {
		v.Volume = &instanceVolume{Size: row.VolumeSize}
	}
	if row.SlaveOfID != "" {
		v.ReplicaOf = &idLinks{ID: row.SlaveOfID, Links: base.links("instances", row.SlaveOfID)}
	}
	for _, id := range in.replicas {
		v.Replicas = append(v.Replicas, idLinks{ID: id, Links: base.links("instances", id)})
	}
	if admin {
		v.TenantID = row.TenantID
	}
	if !detail {
		return v
	}
	v.Created, v.Updated = row.Created.UTC().Format(timeFormat), row.Updated.UTC().Format(timeFormat)
	if in.svc != nil && in.svc.UpdatedAt != nil {
		v.ServiceStatusUpdated = in.svc.UpdatedAt.UTC().Format(timeFormat)
	}
	if in.fault != nil {
		f := &instanceFault{Message: in.fault.Message, Created: in.fault.Updated.UTC().Format(timeFormat)}
		if admin {
			d := in.fault.Details
			f.Details = &d
		}
		v.Fault = f
	}
	if row.ConfigurationID != "" {
		v.Configuration = &configurationRef{ID: row.ConfigurationID, Links: base.links("configurations", row.ConfigurationID)}
	}
	v.ClusterID, v.ShardID = row.ClusterID, row.ShardID
	if admin {
		enc := in.keySet || row.EncryptedKey != ""
		v.ServerID, v.VolumeID, v.EncryptedRPC = stringOrNull(row.ComputeInstanceID), stringOrNull(row.VolumeID), &enc
	}
	return v
}

// stringOrNull renders "" as null (admin fields Trove shows as None).
func stringOrNull(s string) json.RawMessage {
	if s == "" {
		return json.RawMessage("null")
	}
	b, _ := json.Marshal(s)
	return b
}
