//go:build openstack

package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/testenv"
)

// Issue 13: the openstack compute driver against the test bed (deploy/openstack.sh: Nova with the fake
// hypervisor, Neutron, Cinder, Glance, Placement; the boot emulator plays the VM). Everything is checked through
// the openstack CLI: the tenant's view through Trove, the cloud's through Nova, Neutron and Cinder as admin.

// osNetwork is a tenant network with one loopback subnet (DHCP off: the test bed's rule, see
// docs/deploy.md "OpenStack test bed").
type osNetwork struct{ ID, Name, CIDR string }

// tenantNetwork creates a network and subnet in the CLI user's project, removed at the end of the test.
func (c *cli) tenantNetwork(t *testing.T, cidr string) osNetwork {
	t.Helper()
	n := osNetwork{Name: testenv.UniqueName(t, "net"), CIDR: cidr}
	var net struct {
		ID string `json:"id"`
	}
	c.json(&net, "network", "create", n.Name, "-f", "json")
	n.ID = net.ID
	t.Cleanup(func() {
		if out, err := c.run("network", "delete", n.ID); err != nil {
			t.Errorf("cleanup: network delete %s: %v\n%s", n.ID, err, out)
		}
	})
	c.must("subnet", "create", n.Name, "--network", n.ID, "--subnet-range", cidr, "--no-dhcp", "--gateway", "none")
	return n
}

// addressOn is the instance's address inside the network's subnet ("" when it has none).
func (i instance) addressOn(cidr string) string {
	p := netip.MustParsePrefix(cidr)
	var all []string
	if list, ok := i.Addresses.([]any); ok {
		for _, a := range list {
			if m, ok := a.(map[string]any); ok {
				s, _ := m["address"].(string)
				all = append(all, s)
			}
		}
	} else {
		all = strings.Split(fmt.Sprint(i.Addresses)+","+i.IP, ",")
	}
	for _, s := range all {
		if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil && p.Contains(a) {
			return a.String()
		}
	}
	return ""
}

// novaServer is what admin sees of the instance's server.
type novaServer struct {
	ID     string `json:"ID"`
	Name   string `json:"Name"`
	Status string `json:"Status"`
	Flavor string `json:"Flavor"`
}

// serversNamed lists the servers of every project named exactly name (Trove names a server as its instance).
func (c *cli) serversNamed(name string) []novaServer {
	var all []novaServer
	c.json(&all, "server", "list", "--all-projects", "--name", "^"+name+"$", "-f", "json")
	return all
}

// leftovers lists what the cloud still holds for an instance: servers, ports, security groups, server groups and
// volumes named after it or attached to its server.
func (c *cli) leftovers(name, instanceID, serverID, volumeID string) []string {
	var left []string
	for _, s := range c.serversNamed(name) {
		left = append(left, "server "+s.ID+" ("+s.Status+")")
	}
	var ports []struct {
		ID   string `json:"ID"`
		Name string `json:"Name"`
	}
	if serverID != "" {
		c.json(&ports, "port", "list", "--device-id", serverID, "-f", "json")
	}
	for _, p := range ports {
		left = append(left, "port "+p.ID)
	}
	var allPorts []struct {
		ID   string `json:"ID"`
		Name string `json:"Name"`
	}
	c.json(&allPorts, "port", "list", "-f", "json")
	for _, p := range allPorts {
		if strings.Contains(p.Name, instanceID) {
			left = append(left, "port "+p.ID+" "+p.Name)
		}
	}
	var groups []struct {
		ID   string `json:"ID"`
		Name string `json:"Name"`
	}
	c.json(&groups, "security", "group", "list", "-f", "json")
	for _, g := range groups {
		if strings.Contains(g.Name, instanceID) {
			left = append(left, "security group "+g.ID+" "+g.Name)
		}
	}
	var sgroups []struct {
		ID   string `json:"ID"`
		Name string `json:"Name"`
	}
	c.json(&sgroups, "server", "group", "list", "--all-projects", "-f", "json")
	for _, g := range sgroups {
		if strings.Contains(g.Name, instanceID) {
			left = append(left, "server group "+g.ID+" "+g.Name)
		}
	}
	if volumeID != "" {
		if out, err := c.run("volume", "show", volumeID, "-f", "json"); err == nil {
			left = append(left, "volume "+volumeID+": "+out)
		}
	}
	var vols []struct {
		ID   string `json:"ID"`
		Name string `json:"Name"`
	}
	c.json(&vols, "volume", "list", "--all-projects", "-f", "json")
	for _, v := range vols {
		if strings.Contains(v.Name, instanceID) {
			left = append(left, "volume "+v.ID+" "+v.Name)
		}
	}
	return left
}

// adminInstance is the admin's view of an instance (server and volume ids).
type adminInstance struct {
	ServerID string `json:"server_id"`
	VolumeID string `json:"volume_id"`
}

func (c *cli) adminShow(id string) adminInstance {
	var a adminInstance
	c.json(&a, "database", "instance", "show", id, "-f", "json")
	return a
}

func TestOpenStackLifecycle(t *testing.T) {
	t.Parallel()
	c, admin := demo(t), newCLI(t, deployment.admin)
	net := c.tenantNetwork(t, "127.124.1.0/24")
	password := newPassword(t, "Os")
	name := testenv.UniqueName(t, "os")
	inst := c.createInstance(name, "--flavor", "1", "--size", "1", "--datastore", "mariadb",
		"--datastore-version", c.datastoreVersion("mariadb"), "--nic", "net-id="+net.ID,
		"--databases", "app", "--users", "app:"+password)
	id := inst.ID
	inst = c.waitActive(id, buildTimeout)
	host := inst.addressOn(net.CIDR)
	if host == "" {
		t.Fatalf("instance %s has no address on its network %s: %v", id, net.CIDR, inst.Addresses)
	}
	mustConnect(t, mariadbClient, host, "app", password, "app")

	a := admin.adminShow(id)
	servers := admin.serversNamed(name)
	if len(servers) != 1 || servers[0].ID != a.ServerID || servers[0].Status != "ACTIVE" {
		t.Fatalf("Nova has %v for instance %s (server_id %s), want one ACTIVE server", servers, id, a.ServerID)
	}
	var vol struct {
		Size        int    `json:"size"`
		Status      string `json:"status"`
		Attachments []struct {
			ServerID string `json:"server_id"`
		} `json:"attachments"`
	}
	admin.json(&vol, "volume", "show", a.VolumeID, "-f", "json")
	if vol.Size != 1 || vol.Status != "in-use" || len(vol.Attachments) != 1 || vol.Attachments[0].ServerID != a.ServerID {
		t.Fatalf("Cinder volume %s = %+v, want 1 GB in-use on server %s", a.VolumeID, vol, a.ServerID)
	}
	// The tenant's port carries the instance's security group: the datastore's port only, open to everyone
	// (no allowed_cidrs: trove_security_group_rule_cidr).
	assertRules(t, admin, a.ServerID, net.ID, []string{"0.0.0.0/0"})

	// Users and databases through the guest on the VM.
	userPW := newPassword(t, "Os2")
	c.must("database", "user", "create", id, "u2", userPW, "--databases", "app")
	mustConnect(t, mariadbClient, host, "u2", userPW, "app")

	// Access: only 127.0.0.0/8 may reach the database port.
	c.must("database", "instance", "update", id, "--allowed-cidr", "127.0.0.0/8")
	c.waitActive(id, 2*time.Minute)
	assertRules(t, admin, a.ServerID, net.ID, []string{"127.0.0.0/8"})

	// Resize volume: Cinder extends it.
	c.must("database", "instance", "resize", "volume", id, "2")
	c.waitActive(id, 5*time.Minute)
	admin.json(&vol, "volume", "show", a.VolumeID, "-f", "json")
	if vol.Size != 2 {
		t.Errorf("Cinder volume %s is %d GB after resize volume to 2", a.VolumeID, vol.Size)
	}

	// Resize flavor: Nova resizes (and the resize is confirmed).
	c.must("database", "instance", "resize", "flavor", id, c.smallFlavor())
	c.waitActive(id, 5*time.Minute)
	servers = admin.serversNamed(name)
	if len(servers) != 1 || servers[0].Status != "ACTIVE" || !strings.Contains(servers[0].Flavor, "m1.small") {
		t.Errorf("after resize flavor Nova has %v, want one ACTIVE m1.small server", servers)
	}
	mustConnect(t, mariadbClient, host, "app", password, "app")

	// Restart.
	c.must("database", "instance", "restart", id)
	c.waitActive(id, 5*time.Minute)
	mustConnect(t, mariadbClient, host, "app", password, "app")

	// Delete: nothing stays in Nova, Neutron or Cinder.
	c.deleteInstance(id)
	if ok, last := waitFor(2*time.Minute, 2*time.Second, func() (bool, string) {
		left := admin.leftovers(name, id, a.ServerID, a.VolumeID)
		return len(left) == 0, strings.Join(left, "; ")
	}); !ok {
		t.Fatalf("after delete the cloud still holds: %s", last)
	}
}

// assertRules checks the ingress rules of the security groups on the server's port in the network: TCP 3306
// from exactly the CIDRs.
func assertRules(t *testing.T, admin *cli, serverID, networkID string, cidrs []string) {
	t.Helper()
	var ports []struct {
		ID string `json:"ID"`
	}
	admin.json(&ports, "port", "list", "--device-id", serverID, "--network", networkID, "-f", "json")
	if len(ports) != 1 {
		t.Fatalf("server %s has %d ports on network %s, want 1", serverID, len(ports), networkID)
	}
	var port struct {
		SecurityGroupIDs []string `json:"security_group_ids"`
	}
	admin.json(&port, "port", "show", ports[0].ID, "-f", "json")
	if len(port.SecurityGroupIDs) == 0 {
		t.Fatalf("port %s has no security group", ports[0].ID)
	}
	var got []string
	for _, sg := range port.SecurityGroupIDs {
		var rules []struct {
			Direction string `json:"Direction"`
			IPRange   string `json:"IP Range"`
			PortRange string `json:"Port Range"`
			Protocol  string `json:"IP Protocol"`
		}
		admin.json(&rules, "security", "group", "rule", "list", sg, "--ingress", "-f", "json")
		for _, r := range rules {
			got = append(got, fmt.Sprintf("%s %s %s", r.Protocol, r.PortRange, r.IPRange))
		}
	}
	var want []string
	for _, c := range cidrs {
		want = append(want, "tcp 3306:3306 "+c)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("ingress rules on the instance's port = %q, want %q", got, want)
	}
}

// A tenant cannot put its instance on another tenant's network: refused with a readable reason, nothing built.
func TestOpenStackForeignNetwork(t *testing.T) {
	t.Parallel()
	other := demo2(t)
	net := other.tenantNetwork(t, "127.124.2.0/24")
	c, admin := demo(t), newCLI(t, deployment.admin)
	name := testenv.UniqueName(t, "osf")
	out, err := c.run("database", "instance", "create", name, "--flavor", "1", "--size", "1", "--datastore", "mariadb",
		"--datastore-version", c.datastoreVersion("mariadb"), "--nic", "net-id="+net.ID, "-f", "json")
	if err == nil {
		var i instance
		if jerr := json.Unmarshal([]byte(out), &i); jerr != nil || i.ID == "" {
			t.Fatalf("instance create on another project's network: %v %s", jerr, out)
		}
		c.cleanupInstance(i.ID)
		got := c.waitStatus(i.ID, buildTimeout, "ERROR")
		if !strings.Contains(strings.ToLower(got.Fault), "network") {
			t.Errorf("fault of an instance on another project's network = %q, want the network named", got.Fault)
		}
	} else if !strings.Contains(strings.ToLower(out), "network") {
		t.Errorf("refusal of another project's network does not name it: %s", out)
	}
	if s := admin.serversNamed(name); len(s) != 0 {
		t.Errorf("a server was built on another project's network: %v", s)
	}
}

// Fault injection: a server the scheduler cannot place (a flavor larger than the fake host) goes ERROR in Nova;
// the instance goes ERROR with Nova's reason and the build's volume, ports and security group are removed.
func TestOpenStackBuildFault(t *testing.T) {
	t.Parallel()
	admin, c := newCLI(t, deployment.admin), demo(t)
	flavor := testenv.UniqueName(t, "huge")
	admin.must("flavor", "create", flavor, "--ram", "99999999", "--vcpus", "1", "--disk", "1", "--public")
	t.Cleanup(func() { _, _ = admin.run("flavor", "delete", flavor) })
	var fl struct {
		ID string `json:"id"`
	}
	admin.json(&fl, "flavor", "show", flavor, "-f", "json")
	net := c.tenantNetwork(t, "127.124.3.0/24")
	name := testenv.UniqueName(t, "osx")
	inst := c.createInstance(name, "--flavor", fl.ID, "--size", "1", "--datastore", "mariadb",
		"--datastore-version", c.datastoreVersion("mariadb"), "--nic", "net-id="+net.ID)
	got := c.waitStatus(inst.ID, buildTimeout, "ERROR")
	if !strings.Contains(got.Fault, "valid host") {
		t.Errorf("fault = %q, want Nova's reason (No valid host was found)", got.Fault)
	}
	if ok, last := waitFor(time.Minute, 2*time.Second, func() (bool, string) {
		left := admin.leftovers(name, inst.ID, "", "")
		return len(left) == 0, strings.Join(left, "; ")
	}); !ok {
		t.Errorf("a failed build left: %s", last)
	}
}

// Fault injection: a volume Cinder cannot place (a volume type whose backend does not exist) goes to error; the
// instance goes ERROR with a volume fault and neither the volume nor a server is left.
func TestOpenStackVolumeFault(t *testing.T) {
	t.Parallel()
	admin, c := newCLI(t, deployment.admin), demo(t)
	vtype := testenv.UniqueName(t, "novol")
	admin.must("volume", "type", "create", vtype, "--public", "--property", "volume_backend_name=nowhere")
	t.Cleanup(func() { _, _ = admin.run("volume", "type", "delete", vtype) })
	name := testenv.UniqueName(t, "osv")
	inst := c.createInstance(name, "--flavor", "1", "--size", "1", "--volume-type", vtype, "--datastore", "mariadb",
		"--datastore-version", c.datastoreVersion("mariadb"), "--nic", "net-id="+c.sharedNetwork(t))
	got := c.waitStatus(inst.ID, buildTimeout, "ERROR")
	if !strings.Contains(strings.ToLower(got.Fault), "volume") {
		t.Errorf("fault = %q, want the volume named", got.Fault)
	}
	if ok, last := waitFor(time.Minute, 2*time.Second, func() (bool, string) {
		left := admin.leftovers(name, inst.ID, "", "")
		return len(left) == 0, strings.Join(left, "; ")
	}); !ok {
		t.Errorf("a build whose volume failed left: %s", last)
	}
}

// sharedNetwork is the test bed's shared network (deploy/openstack.sh: trove-shared).
func (c *cli) sharedNetwork(t *testing.T) string {
	t.Helper()
	var n struct {
		ID string `json:"id"`
	}
	c.json(&n, "network", "show", "trove-shared", "-f", "json")
	return n.ID
}

// Upgrade onto another version's image: Nova rebuilds the server from the version's image, the volume (and its
// data) is kept, and the instance is ACTIVE on the new version.
func TestOpenStackUpgrade(t *testing.T) {
	t.Parallel()
	c, admin := demo(t), newCLI(t, deployment.admin)
	from := c.defaultVersion(t, "mariadb")
	to := from + "-image2" // deploy/run.sh registers it on the test bed's second image
	password := newPassword(t, "Osu")
	name := testenv.UniqueName(t, "osu")
	inst := c.createInstance(name, "--flavor", "1", "--size", "1", "--datastore", "mariadb", "--datastore-version", from,
		"--nic", "net-id="+c.sharedNetwork(t), "--databases", "app", "--users", "app:"+password)
	inst = c.waitActive(inst.ID, buildTimeout)
	host := inst.addressOn("127.121.0.0/24")
	if host == "" {
		t.Fatalf("instance %s has no address on the shared network: %v", inst.ID, inst.Addresses)
	}
	if out, err := mariadbClient(host, "app", password, "app"); err != nil {
		t.Fatalf("connecting before the upgrade: %v %s", err, out)
	}
	if out, err := sqlAs("mariadb", host, "app", password, "app", "CREATE TABLE kept (v INT); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatalf("writing a row: %v %s", err, out)
	}
	var image struct {
		ID string `json:"id"`
	}
	admin.json(&image, "image", "show", "trove-guest-mariadb-2", "-f", "json")
	c.must("database", "instance", "upgrade", inst.ID, to)
	c.waitActive(inst.ID, 10*time.Minute)
	var srv struct {
		Image any `json:"image"`
	}
	servers := admin.serversNamed(name)
	if len(servers) != 1 {
		t.Fatalf("Nova has %v for the upgraded instance, want one server", servers)
	}
	admin.json(&srv, "server", "show", servers[0].ID, "-f", "json")
	if !strings.Contains(fmt.Sprint(srv.Image), image.ID) {
		t.Errorf("the upgraded server's image is %v, want %s (trove-guest-mariadb-2)", srv.Image, image.ID)
	}
	var shown struct {
		Version string `json:"datastore_version"`
	}
	c.json(&shown, "database", "instance", "show", inst.ID, "-f", "json")
	if shown.Version != to {
		t.Errorf("datastore_version after the upgrade = %q, want %q", shown.Version, to)
	}
	var out string
	if ok, last := waitFor(2*time.Minute, 2*time.Second, func() (bool, string) {
		var err error
		out, err = sqlAs("mariadb", host, "app", password, "app", "SELECT v FROM kept")
		return err == nil && strings.TrimSpace(out) == "42", fmt.Sprint(out, err)
	}); !ok {
		t.Errorf("the row written before the upgrade: %s", last)
	}
}

// defaultVersion is the datastore's default version name.
func (c *cli) defaultVersion(t *testing.T, datastore string) string {
	t.Helper()
	var ds struct {
		Default string `json:"default_version"`
	}
	c.json(&ds, "datastore", "show", datastore, "-f", "json")
	if ds.Default == "" {
		t.Fatalf("datastore %s has no default version", datastore)
	}
	var v struct {
		Name string `json:"name"`
	}
	c.json(&v, "datastore", "version", "show", ds.Default, "--datastore", datastore, "-f", "json")
	return v.Name
}

// A taskmanager killed with SIGKILL while it builds on the cloud leaves, after its restart, an instance that ends
// ACTIVE or ERROR (as on the local driver: a create interrupted before prepare is lost and says so), never stuck in
// BUILD, on at most one server; its delete leaves nothing in Nova, Neutron or Cinder. Not parallel: it runs before
// the parallel tests, alone.
func TestOpenStackTaskmanagerKilledDuringCreate(t *testing.T) {
	c, admin := demo(t), newCLI(t, deployment.admin)
	supervisor, err := readPIDFile(filepath.Join(pidDir, "trove-taskmanager.pid"))
	if err != nil || !alive(supervisor) {
		t.Fatalf("taskmanager pid file %s/trove-taskmanager.pid: pid %d, %v", pidDir, supervisor, err)
	}
	tm := taskmanagerPID(t, supervisor)
	password := newPassword(t, "Osk")
	name := testenv.UniqueName(t, "osk")
	created := c.createInstance(name, "--flavor", "1", "--size", "1", "--datastore", "mariadb",
		"--datastore-version", c.defaultVersion(t, "mariadb"), "--nic", "net-id="+c.sharedNetwork(t),
		"--databases", "app", "--users", "app:"+password)
	// Kill once the build has reached the cloud (its volume exists in Cinder).
	if ok, last := waitFor(2*time.Minute, 100*time.Millisecond, func() (bool, string) {
		out, err := admin.run("volume", "list", "--all-projects", "--name", "trove-"+created.ID, "-f", "value", "-c", "ID")
		return err == nil && strings.TrimSpace(out) != "", out
	}); !ok {
		t.Fatalf("the build of %s never reached Cinder: %s", created.ID, last)
	}
	killMidBuild(t, supervisor, tm, created.ID)
	inst := c.waitStatus(created.ID, buildTimeout, "ACTIVE", "ERROR")
	t.Logf("after the restart instance %s ended %s", created.ID, inst)
	if inst.Status == "ACTIVE" {
		mustConnect(t, mariadbClient, inst.addressOn("127.121.0.0/24"), "app", password, "app")
	} else if inst.Fault == "" {
		t.Errorf("instance %s is ERROR without a fault", created.ID)
	}
	if s := admin.serversNamed(name); len(s) > 1 {
		t.Errorf("after the restart Nova has %d servers for the instance, want at most 1: %v", len(s), s)
	}
	var vols []struct {
		ID string `json:"ID"`
	}
	admin.json(&vols, "volume", "list", "--all-projects", "--name", "trove-"+created.ID, "-f", "json")
	if len(vols) > 1 {
		t.Errorf("after the restart Cinder has %d volumes for the instance, want at most 1", len(vols))
	}
	a := admin.adminShow(created.ID)
	c.deleteInstance(created.ID)
	if ok, last := waitFor(2*time.Minute, 2*time.Second, func() (bool, string) {
		left := admin.leftovers(name, created.ID, a.ServerID, a.VolumeID)
		return len(left) == 0, strings.Join(left, "; ")
	}); !ok {
		t.Errorf("after delete the cloud still holds: %s", last)
	}
}
