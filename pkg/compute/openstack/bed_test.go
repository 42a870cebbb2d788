package openstack

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/external"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/config"
)

// The OpenStack test bed (deploy/openstack.sh start) describes itself in an env file: admin credentials (OS_*),
// Trove's service user (TROVE_SERVICE_*), the management and shared networks and the guest images.
const bedEnvVar, bedEnvDefault = "TROVE_TEST_OPENSTACK_ENV", "/var/lib/trove-openstack/testbed.env"

// bed is the test bed as a test sees it: the driver under test (configured from a trove.conf text) and admin
// clients to check what the cloud holds.
type bed struct {
	env                                     map[string]string
	drv                                     *Driver
	nova, neutron, cinder, glance, identity *gophercloud.ServiceClient
}

func readBedEnv(t *testing.T) map[string]string {
	t.Helper()
	path := os.Getenv(bedEnvVar)
	if path == "" {
		path = bedEnvDefault
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the OpenStack test bed is not up (%v): run `bash deploy/openstack.sh start` (or set %s)", err, bedEnvVar)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export "), "=")
		if ok && !strings.HasPrefix(k, "#") {
			env[k] = strings.Trim(v, `"'`)
		}
	}
	return env
}

func (b *bed) get(t *testing.T, key string) string {
	t.Helper()
	v := b.env[key]
	if v == "" {
		t.Fatalf("the test bed's env file has no %s: re-run `bash deploy/openstack.sh start`", key)
	}
	return v
}

// newBed connects the admin clients and builds a driver of its own (so its request counts are the test's).
func newBed(t *testing.T) *bed {
	t.Helper()
	b := &bed{env: readBedEnv(t)}
	ctx := context.Background()
	admin, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: b.get(t, "OS_AUTH_URL"), Username: b.get(t, "OS_USERNAME"), Password: b.get(t, "OS_PASSWORD"),
		DomainName: "Default", Scope: &gophercloud.AuthScope{ProjectName: b.get(t, "OS_PROJECT_NAME"), DomainName: "Default"},
	})
	if err != nil {
		t.Fatalf("admin auth: %v", err)
	}
	eo := gophercloud.EndpointOpts{Region: b.env["OS_REGION_NAME"]}
	must := func(c *gophercloud.ServiceClient, err error) *gophercloud.ServiceClient {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	b.nova = must(openstack.NewComputeV2(admin, eo))
	b.nova.Microversion = "2.60"
	b.neutron = must(openstack.NewNetworkV2(admin, eo))
	b.cinder = must(openstack.NewBlockStorageV3(admin, eo))
	b.glance = must(openstack.NewImageV2(admin, eo))
	b.identity = must(openstack.NewIdentityV3(admin, eo))
	b.drv = b.newDriver(t, "")
	return b
}

// newDriver is a driver configured as trove.conf would (the bed's service user, its management network) plus
// extra lines at the end.
func (b *bed) newDriver(t *testing.T, extra string) *Driver {
	t.Helper()
	conf := fmt.Sprintf(`[DEFAULT]
management_networks = %s
server_delete_time_out = 60
[service_credentials]
auth_url = %s
username = %s
password = %s
project_name = %s
region_name = %s
`, b.get(t, "TESTBED_MGMT_NETWORK_ID"), b.get(t, "OS_AUTH_URL"), b.get(t, "TROVE_SERVICE_USERNAME"),
		b.get(t, "TROVE_SERVICE_PASSWORD"), b.get(t, "TROVE_SERVICE_PROJECT"), b.get(t, "OS_REGION_NAME"))
	f, err := config.Parse(conf + extra)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ConfigFrom(f)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	d, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// projectID is the id of the project named name.
func (b *bed) projectID(t *testing.T, name string) string {
	t.Helper()
	p, err := projects.List(b.identity, projects.ListOpts{Name: name}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ps, err := projects.ExtractProjects(p)
	if err != nil || len(ps) != 1 {
		t.Fatalf("project %s: %v %v", name, ps, err)
	}
	return ps[0].ID
}

// tenantNetwork makes a network of project with one loopback /24 subnet without DHCP (the bed's rule), removed
// when the test ends (after the test's own cleanups, registered later).
func (b *bed) tenantNetwork(t *testing.T, project string) (networks.Network, subnets.Subnet) {
	t.Helper()
	return b.network(t, project, false, "")
}

// network makes a network (external: router:external) with a loopback /24 subnet in 127.<second>.x.0 without
// DHCP; gateway gives the subnet its .1 as gateway (for a router interface).
func (b *bed) network(t *testing.T, project string, ext bool, gateway string) (networks.Network, subnets.Subnet) {
	t.Helper()
	ctx := context.Background()
	second := "123"
	if ext {
		second = "125"
	}
	n, err := networks.Create(ctx, b.neutron, external.CreateOptsExt{CreateOptsBuilder: networks.CreateOpts{
		Name: "trove-go-test-" + t.Name(), ProjectID: project}, External: &ext}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := networks.Delete(ctx, b.neutron, n.ID).ExtractErr(); err != nil {
			t.Errorf("deleting network %s: %v", n.ID, err)
		}
	})
	off, third := false, 1+rand.IntN(250)
	if gateway != "" {
		gateway = fmt.Sprintf("127.%s.%d.1", second, third)
	}
	s, err := subnets.Create(ctx, b.neutron, subnets.CreateOpts{NetworkID: n.ID, ProjectID: project, IPVersion: 4,
		CIDR: fmt.Sprintf("127.%s.%d.0/24", second, third), EnableDHCP: &off, GatewayIP: &gateway}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	return *n, *s
}

// leftovers lists the ports and security group the cloud still holds for an instance.
func (b *bed) leftovers(t *testing.T, iid string) []string {
	t.Helper()
	ctx := context.Background()
	var left []string
	p, err := ports.List(b.neutron, ports.ListOpts{Name: portName(iid)}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := ports.ExtractPorts(p)
	for _, x := range ps {
		left = append(left, "port "+x.ID)
	}
	g, err := groups.List(b.neutron, groups.ListOpts{Name: b.drv.secGroupName(iid)}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gs, _ := groups.ExtractGroups(g)
	for _, x := range gs {
		left = append(left, "security group "+x.ID)
	}
	return left
}

// ingress is the group's ingress rules as "cidr:port".
func (b *bed) ingress(t *testing.T, iid string) []string {
	t.Helper()
	ctx := context.Background()
	sg, err := b.drv.findSecGroup(ctx, iid)
	if err != nil || sg == "" {
		t.Fatalf("security group of %s: %q %v", iid, sg, err)
	}
	p, err := rules.List(b.neutron, rules.ListOpts{SecGroupID: sg, Direction: "ingress"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := rules.ExtractRules(p)
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s:%s:%d-%d", r.RemoteIPPrefix, r.Protocol, r.PortRangeMin, r.PortRangeMax))
	}
	return out
}

// waitSettle polls the driver until the server is ACTIVE or ERROR.
func waitSettle(t *testing.T, d *Driver, id string) compute.Server {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		s, err := d.GetServer(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status == compute.ServerActive || s.Status == compute.ServerError {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s still %s", id, s.Status)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// waitActive polls the driver until the server is ACTIVE (ERROR fails the test with the fault).
func waitActive(t *testing.T, d *Driver, id string) compute.Server {
	t.Helper()
	s := waitSettle(t, d, id)
	if s.Status != compute.ServerActive {
		t.Fatalf("server %s went to ERROR: %s", id, s.Fault)
	}
	return s
}

// hugeFlavor is a flavor no host of the bed can give (8 TiB of RAM), removed when the test ends.
func (b *bed) hugeFlavor(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	one := 1
	f, err := flavors.Create(ctx, b.nova, flavors.CreateOpts{Name: "trove-go-test-huge-" + uuid.NewString()[:8], RAM: 8 << 20, VCPUs: 1, Disk: &one}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = flavors.Delete(ctx, b.nova, f.ID).ExtractErr() })
	return f.ID
}
