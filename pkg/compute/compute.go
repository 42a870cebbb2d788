// Package compute is the control plane's view of the infrastructure an instance runs on: servers, volumes,
// flavors, images and addresses. It is shaped after Nova/Cinder so a gophercloud driver can implement it;
// pkg/compute/local implements it with processes on this host, and pkg/compute/drivers picks one from
// configuration.
package compute

import (
	"context"
	"errors"
)

// ErrNotFound is returned (wrapped) when a server, volume, flavor or image does not exist.
var ErrNotFound = errors.New("not found")

// ErrPermanent is wrapped by driver errors a retry cannot fix (the cloud refused the request: quota, a flavor too
// small for the image, a network the project may not use); callers stop retrying and report the message.
var ErrPermanent = errors.New("permanent")

// Nova-style server statuses the taskmanager and the API understand.
const (
	ServerBuild   = "BUILD"
	ServerActive  = "ACTIVE"
	ServerShutoff = "SHUTOFF"
	ServerError   = "ERROR"
	ServerReboot  = "REBOOT"
	ServerDeleted = "DELETED"
)

// Cinder-style volume statuses.
const (
	VolumeCreating  = "creating"
	VolumeAvailable = "available"
	VolumeInUse     = "in-use"
	VolumeExtending = "extending"
	VolumeError     = "error"
)

// ServerSpec describes a server to boot. UserFiles are the files cloud-init would write (absolute guest path →
// content), e.g. /etc/trove/conf.d/guest_info.conf and /etc/trove/conf.d/trove-guestagent.conf.
type ServerSpec struct {
	InstanceID string
	Name       string
	ImageID    string
	Flavor     Flavor
	UserFiles  map[string]string
	Tags       []string
	Metadata   map[string]string
	VolumeID   string // attached as the data volume; "" for none
	AZ         string
	// ProjectID is the tenant the instance belongs to: a driver that attaches tenant networks checks they are
	// the tenant's own (or shared) before it uses them.
	ProjectID string
	// NICs are the tenant's requested attachments (Trove's nics); drivers without networks ignore them.
	NICs []NIC
	// Access is the exposure at create (security group rules, floating IP); nil means the defaults.
	Access *Access
	// Locality is Trove's locality ("affinity" / "anti-affinity", "" for none) applied through ServerGroup: a
	// replica names its source's group so the policy holds across them.
	Locality    string
	ServerGroup string
}

// NIC is one requested network attachment: a network (optionally a subnet and a fixed IP on it), or an
// existing port.
type NIC struct {
	NetworkID string
	SubnetID  string
	FixedIP   string
	PortID    string
}

// Address is one address of a server.
type Address struct {
	Network string `json:"network"`
	Addr    string `json:"addr"`
	Version int    `json:"version"`
	// Public marks an address reachable from outside the tenant's network (Nova: a floating IP; the local
	// driver: the instance's address while its access is public). Trove shows it as type "public".
	Public bool `json:"public,omitempty"`
}

// Server is a booted server as the compute service reports it.
type Server struct {
	ID        string
	Name      string
	Status    string // Server* constants
	Fault     string // why the server is not ACTIVE (ERROR, SHUTOFF), when known
	FlavorID  string // the flavor the server runs with ("" when the driver does not know)
	Addresses []Address
}

// VolumeSpec describes a volume to create (Trove names it trove-<instance id>).
type VolumeSpec struct {
	Name       string
	SizeGB     int
	Type       string
	AZ         string
	InstanceID string
}

// Volume is a block volume (or the local driver's directory standing in for one).
type Volume struct {
	ID     string
	Name   string
	SizeGB int
	Status string // Volume* constants
}

// Flavor is a server size.
type Flavor struct {
	ID    string
	Name  string
	RAM   int // MB
	VCPUs int
	Disk  int // GB
}

// Image is what a datastore version's image_id resolves to.
type Image struct {
	ID   string
	Name string
	// ServerBinDir is, for the local driver, the host directory holding the datastore server binaries.
	ServerBinDir string
}

// Driver is one compute backend. Methods return errors wrapping ErrNotFound for missing objects; every method
// is safe to retry (Delete* of a missing object succeeds).
type Driver interface {
	CreateServer(ctx context.Context, spec ServerSpec) (Server, error)
	GetServer(ctx context.Context, id string) (Server, error)
	DeleteServer(ctx context.Context, id string) error
	RebootServer(ctx context.Context, id string) error
	RebuildServer(ctx context.Context, id, imageID string, userFiles map[string]string) error

	CreateVolume(ctx context.Context, spec VolumeSpec) (Volume, error)
	GetVolume(ctx context.Context, id string) (Volume, error)
	ExtendVolume(ctx context.Context, id string, newSizeGB int) error
	DeleteVolume(ctx context.Context, id string) error

	ListFlavors(ctx context.Context) ([]Flavor, error)
	GetFlavor(ctx context.Context, id string) (Flavor, error)
	ResolveImage(ctx context.Context, imageID string) (Image, error)

	AddressLister
}

// AddressLister reports the addresses of many servers in one call (one list page of the API: no per-instance
// GetServer). Servers that do not exist are absent from the map; the slices are shared, callers must not
// modify them.
type AddressLister interface {
	ServerAddresses(ctx context.Context, ids []string) (map[string][]Address, error)
}

// Resizer gives a server another flavor (Nova: resize + confirm; the local driver: the flavor's RAM as the
// memory limit of the instance's processes). The guest's database is stopped by the caller first. Safe to
// repeat; resizing to the current flavor succeeds.
type Resizer interface {
	ResizeServer(ctx context.Context, id string, flavor Flavor) error
}

// Access is who may reach a server's database ports and whether its address is published (Trove's instance
// access: is_public, allowed_cidrs). No CIDRs means everyone (Trove's trove_security_group_rule_cidr).
type Access struct {
	IsPublic     bool
	AllowedCIDRs []string
	Ports        []int // the datastore's TCP ports
}

// AccessController applies an Access to a server (Nova/Neutron: port and security group rules; the local
// driver: an iptables chain of the instance's own). Safe to repeat; DeleteServer removes what it set.
type AccessController interface {
	UpdateAccess(ctx context.Context, id string, a Access) error
}

// NetworkChecker is a driver with tenant networks that checks, before anything is built, that a project may use
// the networks of its nics (its own or shared ones, the subnet on that network). An error wrapping ErrNotFound
// names what the project cannot use (Trove answers 400: the network "cannot be found").
type NetworkChecker interface {
	CheckNICs(ctx context.Context, projectID string, nics []NIC) error
}

// VolumeType is a block storage volume type (Cinder's).
type VolumeType struct {
	ID          string
	Name        string
	Description string
	IsPublic    bool
}

// VolumeTypeLister is a driver whose volumes have types (the openstack driver: Cinder's volume types).
type VolumeTypeLister interface {
	ListVolumeTypes(ctx context.Context) ([]VolumeType, error)
}

// Guest file paths as Trove injects them (states.md §9).
const (
	GuestInfoPath   = "/etc/trove/conf.d/guest_info.conf"
	GuestConfigPath = "/etc/trove/conf.d/trove-guestagent.conf"
)
