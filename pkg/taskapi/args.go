// Package taskapi is the typed RPC surface of trove-taskmanager (rpc.md §B.2): one args struct per method, each
// with Validate(), and a Client the API uses to cast them. All methods are casts at version 1.0 on topic
// [DEFAULT] taskmanager_queue; json tags are Trove's argument names, so a Python trove-api can talk to us too.
package taskapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/trove-go/trove/pkg/guestapi"
)

// Method names (oslo "method" field).
const (
	MethodCreateInstance = "create_instance"
	MethodDeleteInstance = "delete_instance"
	MethodRestart        = "restart"
	MethodResizeVolume   = "resize_volume"
	MethodUpgrade        = "upgrade"
)

// Version is the taskmanager endpoint version; Topic its default topic.
const (
	Version = "1.0"
	Topic   = "taskmanager"
)

// Flavor is the part of the novaclient flavor dict the taskmanager uses. Trove sends Flavor.__dict__; unknown
// keys are ignored on decode. Nova flavor ids are strings.
type Flavor struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	RAM   int    `json:"ram"`
	VCPUs int    `json:"vcpus"`
	Disk  int    `json:"disk"`
}

// UnmarshalJSON accepts a numeric flavor id as some clouds (and old Trove fixtures) send.
func (f *Flavor) UnmarshalJSON(b []byte) error {
	type plain Flavor
	var raw struct {
		plain
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*f = Flavor(raw.plain)
	f.ID = ""
	if len(raw.ID) > 0 && string(raw.ID) != "null" {
		var s string
		if err := json.Unmarshal(raw.ID, &s); err != nil {
			var n json.Number
			if err2 := json.Unmarshal(raw.ID, &n); err2 != nil {
				return fmt.Errorf("flavor id: %w", err)
			}
			s = n.String()
		}
		f.ID = s
	}
	return nil
}

// Database and User are Trove's serialized schema and user dicts (rpc.md §B.5), shared with the guest API so
// the taskmanager hands them to prepare unchanged.
type (
	Database = guestapi.Schema
	User     = guestapi.User
)

// NIC is one requested network attachment.
type NIC struct {
	NetworkID string `json:"network_id,omitempty"`
	SubnetID  string `json:"subnet_id,omitempty"`
	IPAddress string `json:"ip_address,omitempty"`
}

// Access is the instance's network exposure.
type Access struct {
	IsPublic     bool     `json:"is_public"`
	AllowedCIDRs []string `json:"allowed_cidrs"`
}

// CreateInstanceArgs is create_instance for a single instance (instance_id / name / root_password as strings;
// multi-replica list form is not supported).
type CreateInstanceArgs struct {
	InstanceID       string          `json:"instance_id"`
	Name             string          `json:"name"`
	Flavor           Flavor          `json:"flavor"`
	ImageID          string          `json:"image_id"`
	Databases        []Database      `json:"databases"`
	Users            []User          `json:"users"`
	DatastoreManager string          `json:"datastore_manager"`
	Packages         *string         `json:"packages"`
	VolumeSize       *int            `json:"volume_size"`
	BackupID         *string         `json:"backup_id"`
	AvailabilityZone *string         `json:"availability_zone"`
	RootPassword     *string         `json:"root_password"`
	NICs             []NIC           `json:"nics"`
	Overrides        map[string]any  `json:"overrides"`
	SlaveOfID        *string         `json:"slave_of_id"`
	ClusterConfig    json.RawMessage `json:"cluster_config"`
	VolumeType       *string         `json:"volume_type"`
	Modules          json.RawMessage `json:"modules"`
	Locality         *string         `json:"locality"`
	Access           *Access         `json:"access"`
	DSVersion        string          `json:"ds_version"`
	// RestoreTime (ours, RFC 3339, with BackupID): restore to this time by replaying the backup's instance's
	// shipped transaction log (point-in-time recovery); prepare's backup_info carries it as restore_time.
	RestoreTime *string `json:"restore_time,omitempty"`
}

// Validate checks what the taskmanager needs before it touches anything.
func (a CreateInstanceArgs) Validate() error {
	var errs []error
	if err := validID("instance_id", a.InstanceID); err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(a.Name) == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if a.Flavor.ID == "" {
		errs = append(errs, errors.New("flavor.id is required"))
	}
	if a.Flavor.RAM < 0 {
		errs = append(errs, errors.New("flavor.ram must not be negative"))
	}
	if a.ImageID == "" {
		errs = append(errs, errors.New("image_id is required"))
	}
	if a.DatastoreManager == "" {
		errs = append(errs, errors.New("datastore_manager is required"))
	}
	if a.VolumeSize != nil && *a.VolumeSize <= 0 {
		errs = append(errs, fmt.Errorf("volume_size must be positive, got %d", *a.VolumeSize))
	}
	for i, d := range a.Databases {
		if d.Name == "" {
			errs = append(errs, fmt.Errorf("databases[%d]: _name is required", i))
		}
	}
	for i, u := range a.Users {
		if u.Name == "" {
			errs = append(errs, fmt.Errorf("users[%d]: _name is required", i))
		}
	}
	return errors.Join(errs...)
}

// DeleteInstanceArgs is delete_instance.
type DeleteInstanceArgs struct {
	InstanceID string `json:"instance_id"`
}

// Validate checks the instance id.
func (a DeleteInstanceArgs) Validate() error { return validID("instance_id", a.InstanceID) }

// RestartArgs is restart.
type RestartArgs struct {
	InstanceID string `json:"instance_id"`
}

// Validate checks the instance id.
func (a RestartArgs) Validate() error { return validID("instance_id", a.InstanceID) }

// ResizeVolumeArgs is resize_volume.
type ResizeVolumeArgs struct {
	NewSize    int    `json:"new_size"`
	InstanceID string `json:"instance_id"`
}

// Validate checks the instance id and that the new size is positive (growth is checked against the row).
func (a ResizeVolumeArgs) Validate() error {
	var errs []error
	if err := validID("instance_id", a.InstanceID); err != nil {
		errs = append(errs, err)
	}
	if a.NewSize <= 0 {
		errs = append(errs, fmt.Errorf("new_size must be positive, got %d", a.NewSize))
	}
	return errors.Join(errs...)
}

// UpgradeArgs is upgrade.
type UpgradeArgs struct {
	InstanceID         string `json:"instance_id"`
	DatastoreVersionID string `json:"datastore_version_id"`
}

// Validate checks both ids.
func (a UpgradeArgs) Validate() error {
	return errors.Join(validID("instance_id", a.InstanceID), validID("datastore_version_id", a.DatastoreVersionID))
}

// validID accepts a non-empty id without whitespace or path characters (ids become queue names and directories).
func validID(field, id string) error {
	if id == "" {
		return fmt.Errorf("%s is required", field)
	}
	if len(id) > 64 || strings.ContainsAny(id, " \t\r\n/\\.") {
		return fmt.Errorf("%s %q is not a valid id", field, id)
	}
	return nil
}
