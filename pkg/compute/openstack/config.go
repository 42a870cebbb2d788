package openstack

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trove-go/trove/pkg/config"
)

// Config is what the driver reads of trove.conf: Trove's own option names ([service_credentials] for the service
// user every OpenStack call is made as, [DEFAULT] for endpoints, networks, volumes and timeouts).
type Config struct {
	AuthURL           string
	Username          string
	Password          string // never logged
	ProjectName       string
	ProjectID         string
	UserDomainName    string
	ProjectDomainName string
	Region            string

	// Endpoint interfaces (Trove's <svc>_endpoint_type: publicURL, internalURL, adminURL).
	ComputeEndpointType, VolumeEndpointType, NetworkEndpointType, ImageEndpointType string
	// Endpoint overrides (Trove's nova_compute_url, cinder_url, neutron_url, glance_url). Nova's and Cinder's get
	// the service project's id appended as Trove does.
	ComputeURL, VolumeURL, NetworkURL, ImageURL string

	ManagementNetworks       []string // network ids, always attached (last NIC)
	ManagementSecurityGroups []string // security group ids for the management ports
	SecurityGroupsSupport    bool     // trove_security_groups_support: a trove_sg-<id> group per instance
	SecurityGroupNamePrefix  string   // trove_security_group_name_prefix
	SecurityGroupRuleCIDR    string   // trove_security_group_rule_cidr: the rule source when no allowed_cidrs
	PublicNetworkID          string   // [network] public_network_id ("" = the first external network)
	NetworkIsolation         bool     // [network] network_isolation

	VolumeSupport   bool   // trove_volume_support
	VolumeFSType    string // volume_fstype
	DevicePath      string // device_path
	VolumeType      string // cinder_volume_type
	VolumeTimeout   time.Duration
	DeleteTimeout   time.Duration // server_delete_time_out
	ResizeTimeout   time.Duration // resize_time_out
	RebootTimeout   time.Duration // reboot_time_out
	KeyPair         string        // nova_keypair
	ConfigDrive     bool          // use_nova_server_config_drive
	InjectedOwner   string        // injected_config_owner:injected_config_group, the owner of the files written
	EnableVolumeAZ  bool          // enable_volume_az
	PollInterval    time.Duration // between status polls (not a Trove option)
	MaxPollInterval time.Duration
}

// ConfigFrom reads the driver's configuration; the service credentials are required.
func ConfigFrom(f *config.File) (Config, error) {
	sc := "service_credentials"
	c := Config{
		AuthURL:           f.String(sc, "auth_url", f.String("DEFAULT", "trove_auth_url", "")),
		Username:          f.String(sc, "username", f.String("DEFAULT", "nova_proxy_admin_user", "")),
		Password:          f.String(sc, "password", f.String("DEFAULT", "nova_proxy_admin_pass", "")),
		ProjectName:       f.String(sc, "project_name", f.String("DEFAULT", "nova_proxy_admin_tenant_name", "")),
		ProjectID:         f.String(sc, "project_id", f.String("DEFAULT", "nova_proxy_admin_tenant_id", "")),
		UserDomainName:    f.String(sc, "user_domain_name", f.String("DEFAULT", "nova_proxy_admin_user_domain_name", "Default")),
		ProjectDomainName: f.String(sc, "project_domain_name", f.String("DEFAULT", "nova_proxy_admin_project_domain_name", "Default")),
		Region:            f.String(sc, "region_name", f.String("DEFAULT", "os_region_name", "RegionOne")),

		ComputeEndpointType: f.String("DEFAULT", "nova_compute_endpoint_type", "publicURL"),
		VolumeEndpointType:  f.String("DEFAULT", "cinder_endpoint_type", "publicURL"),
		NetworkEndpointType: f.String("DEFAULT", "neutron_endpoint_type", "publicURL"),
		ImageEndpointType:   f.String("DEFAULT", "glance_endpoint_type", "publicURL"),
		ComputeURL:          f.String("DEFAULT", "nova_compute_url", ""),
		VolumeURL:           f.String("DEFAULT", "cinder_url", ""),
		NetworkURL:          f.String("DEFAULT", "neutron_url", ""),
		ImageURL:            f.String("DEFAULT", "glance_url", ""),

		ManagementNetworks:       f.List("DEFAULT", "management_networks", f.List("DEFAULT", "default_neutron_networks", nil)),
		ManagementSecurityGroups: f.List("DEFAULT", "management_security_groups", nil),
		SecurityGroupsSupport:    f.Bool("DEFAULT", "trove_security_groups_support", true),
		SecurityGroupNamePrefix:  f.String("DEFAULT", "trove_security_group_name_prefix", "trove_sg"),
		SecurityGroupRuleCIDR:    f.String("DEFAULT", "trove_security_group_rule_cidr", "0.0.0.0/0"),
		PublicNetworkID:          f.String("network", "public_network_id", ""),
		NetworkIsolation:         f.Bool("network", "network_isolation", f.Bool("DEFAULT", "network_isolation", true)),

		VolumeSupport:   f.Bool("DEFAULT", "trove_volume_support", false),
		VolumeFSType:    f.String("DEFAULT", "volume_fstype", "ext4"),
		DevicePath:      f.String("DEFAULT", "device_path", "/dev/vdb"),
		VolumeType:      f.String("DEFAULT", "cinder_volume_type", ""),
		VolumeTimeout:   f.Seconds("DEFAULT", "volume_time_out", 60),
		DeleteTimeout:   f.Seconds("DEFAULT", "server_delete_time_out", 60),
		ResizeTimeout:   f.Seconds("DEFAULT", "resize_time_out", 900),
		RebootTimeout:   f.Seconds("DEFAULT", "reboot_time_out", 120),
		KeyPair:         f.String("DEFAULT", "nova_keypair", ""),
		ConfigDrive:     f.Bool("DEFAULT", "use_nova_server_config_drive", false),
		InjectedOwner:   f.String("DEFAULT", "injected_config_owner", "ubuntu") + ":" + f.String("DEFAULT", "injected_config_group", "root"),
		EnableVolumeAZ:  f.Bool("DEFAULT", "enable_volume_az", false),
		PollInterval:    200 * time.Millisecond,
		MaxPollInterval: 2 * time.Second,
	}
	var missing []string
	for _, o := range []struct{ name, v string }{
		{"auth_url", c.AuthURL}, {"username", c.Username}, {"password", c.Password},
	} {
		if strings.TrimSpace(o.v) == "" {
			missing = append(missing, "[service_credentials] "+o.name)
		}
	}
	if c.ProjectName == "" && c.ProjectID == "" {
		missing = append(missing, "[service_credentials] project_name (or project_id)")
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("compute_driver = openstack needs %s", strings.Join(missing, ", "))
	}
	if err := f.Err(); err != nil {
		return c, err
	}
	for _, o := range []struct{ name, v string }{
		{"nova_compute_endpoint_type", c.ComputeEndpointType}, {"cinder_endpoint_type", c.VolumeEndpointType},
		{"neutron_endpoint_type", c.NetworkEndpointType}, {"glance_endpoint_type", c.ImageEndpointType},
	} {
		if _, err := availability(o.v); err != nil {
			return c, fmt.Errorf("[DEFAULT] %s: %w", o.name, err)
		}
	}
	return c, nil
}

// availability maps Trove's endpoint types (publicURL, internalURL, adminURL; also public/internal/admin) to
// gophercloud's.
func availability(t string) (string, error) {
	switch strings.TrimSuffix(strings.ToLower(t), "url") {
	case "public", "":
		return "public", nil
	case "internal":
		return "internal", nil
	case "admin":
		return "admin", nil
	}
	return "", errors.New("endpoint type " + t + " is not publicURL, internalURL or adminURL")
}
