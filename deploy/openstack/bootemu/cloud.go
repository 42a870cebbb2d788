package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
)

// computeMicroversion is the lowest that shows OS-EXT-SRV-ATTR:user_data to an admin; below 2.47 a server's
// flavor still carries its id, which is how a resize is seen.
const computeMicroversion = "2.3"

// Server is what the emulator reads of a server (GET /servers/detail?all_tenants=1 as admin).
type Server struct {
	ID        string               `json:"id"`
	Name      string               `json:"name"`
	Status    string               `json:"status"`
	Updated   string               `json:"updated"`
	Image     any                  `json:"image"` // {"id": …}, or "" for a volume-backed server
	Flavor    struct{ ID string }  `json:"flavor"`
	Metadata  map[string]string    `json:"metadata"`
	Addresses map[string][]address `json:"addresses"`
	UserData  *string              `json:"OS-EXT-SRV-ATTR:user_data"`
	Volumes   []struct {
		ID string `json:"id"`
	} `json:"os-extended-volumes:volumes_attached"`
}

type address struct {
	Addr    string `json:"addr"`
	Version int    `json:"version"`
	Type    string `json:"OS-EXT-IPS:type"`
}

// ImageID is the server's image id ("" when it boots from a volume).
func (s Server) ImageID() string {
	if m, ok := s.Image.(map[string]any); ok {
		id, _ := m["id"].(string)
		return id
	}
	return ""
}

// InstanceID is the Trove instance the server belongs to (metadata trove_instance_id), for the logs.
func (s Server) InstanceID() string { return s.Metadata["trove_instance_id"] }

// VolumeID is the first attached volume, "" without one.
func (s Server) VolumeID() string {
	if len(s.Volumes) == 0 {
		return ""
	}
	return s.Volumes[0].ID
}

// Address is the first fixed IPv4 address on a network other than mgmtNet (network names sorted, so the choice
// is stable); with a single address, that one.
func (s Server) Address(mgmtNet string) string {
	var all, tenant []string
	nets := make([]string, 0, len(s.Addresses))
	for n := range s.Addresses {
		nets = append(nets, n)
	}
	sort.Strings(nets)
	for _, n := range nets {
		for _, a := range s.Addresses[n] {
			if a.Version != 4 || (a.Type != "" && a.Type != "fixed") {
				continue
			}
			all = append(all, a.Addr)
			if n != mgmtNet {
				tenant = append(tenant, a.Addr)
			}
		}
	}
	switch {
	case len(all) == 1:
		return all[0]
	case len(tenant) > 0:
		return tenant[0]
	}
	return ""
}

// Cloud is the emulator's view of the test bed: one authenticated provider (one token, reused and renewed) and
// its compute, block-storage and network clients.
type Cloud struct {
	compute, volume, network *gophercloud.ServiceClient
}

// Connect authenticates once with the admin credentials in env (OS_* variables).
func Connect(ctx context.Context, env map[string]string) (*Cloud, error) {
	for _, k := range []string{"OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME"} {
		if env[k] == "" {
			return nil, fmt.Errorf("%s is not set in the environment file", k)
		}
	}
	opts := gophercloud.AuthOptions{
		IdentityEndpoint: env["OS_AUTH_URL"],
		Username:         env["OS_USERNAME"],
		Password:         env["OS_PASSWORD"],
		DomainName:       or(env["OS_USER_DOMAIN_NAME"], "Default"),
		AllowReauth:      true,
		Scope: &gophercloud.AuthScope{
			ProjectName: env["OS_PROJECT_NAME"],
			DomainName:  or(env["OS_PROJECT_DOMAIN_NAME"], "Default"),
		},
	}
	provider, err := openstack.AuthenticatedClient(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("authenticating as %s at %s: %w", opts.Username, opts.IdentityEndpoint, err)
	}
	eo := gophercloud.EndpointOpts{Region: env["OS_REGION_NAME"]}
	c := &Cloud{}
	if c.compute, err = openstack.NewComputeV2(provider, eo); err != nil {
		return nil, fmt.Errorf("compute endpoint: %w", err)
	}
	c.compute.Microversion = computeMicroversion
	if c.volume, err = openstack.NewBlockStorageV3(provider, eo); err != nil {
		return nil, fmt.Errorf("volumev3 endpoint: %w", err)
	}
	if c.network, err = openstack.NewNetworkV2(provider, eo); err != nil {
		return nil, fmt.Errorf("network endpoint: %w", err)
	}
	return c, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Servers lists every project's servers with their details.
func (c *Cloud) Servers(ctx context.Context) ([]Server, error) {
	pages, err := servers.List(c.compute, servers.ListOpts{AllTenants: true}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing servers: %w", err)
	}
	var out []Server
	if err := servers.ExtractServersInto(pages, &out); err != nil {
		return nil, fmt.Errorf("listing servers: %w", err)
	}
	return out, nil
}

// Action is one entry of a server's instance actions (os-instance-actions).
type Action struct {
	Name      string
	RequestID string
}

// Actions lists a server's instance actions, newest first.
func (c *Cloud) Actions(ctx context.Context, serverID string) ([]Action, error) {
	pages, err := instanceactions.List(c.compute, serverID, nil).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing actions of server %s: %w", serverID, err)
	}
	acts, err := instanceactions.ExtractInstanceActions(pages)
	if err != nil {
		return nil, err
	}
	out := make([]Action, len(acts))
	for i, a := range acts {
		out[i] = Action{Name: a.Action, RequestID: a.RequestID}
	}
	return out, nil
}

// VolumeSizes maps every project's volume id to its size in GB.
func (c *Cloud) VolumeSizes(ctx context.Context) (map[string]int, error) {
	pages, err := volumes.List(c.volume, volumes.ListOpts{AllTenants: true}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing volumes: %w", err)
	}
	vols, err := volumes.ExtractVolumes(pages)
	if err != nil {
		return nil, fmt.Errorf("listing volumes: %w", err)
	}
	out := make(map[string]int, len(vols))
	for _, v := range vols {
		out[v.ID] = v.Size
	}
	return out, nil
}

// NetworkName resolves a network id to the name servers' addresses are keyed by.
func (c *Cloud) NetworkName(ctx context.Context, id string) (string, error) {
	n, err := networks.Get(ctx, c.network, id).Extract()
	if err != nil {
		return "", fmt.Errorf("network %s: %w", id, err)
	}
	return n.Name, nil
}

// ReadEnvFile reads shell KEY=VALUE lines (optionally `export KEY=VALUE`, values optionally in single or double
// quotes); comments and blank lines are skipped.
func ReadEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: not KEY=VALUE", path, n)
		}
		v = strings.TrimSpace(v)
		switch {
		case len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'':
			v = v[1 : len(v)-1]
		case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			} else {
				v = v[1 : len(v)-1]
			}
		}
		env[strings.TrimSpace(k)] = v
	}
	return env, sc.Err()
}
