package openstack

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servergroups"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/routers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"gopkg.in/yaml.v3"

	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/config"
)

func TestConfigFromNamesMissingCredentials(t *testing.T) {
	f, err := config.Parse("[service_credentials]\nauth_url = http://127.0.0.1:5000/v3\nusername = trove\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ConfigFrom(f)
	if err == nil || !strings.Contains(err.Error(), "[service_credentials] password") || !strings.Contains(err.Error(), "project_name") {
		t.Fatalf("ConfigFrom without password and project = %v, want an error naming both options", err)
	}
}

func TestConfigFromTroveOptions(t *testing.T) {
	f, err := config.Parse(`[DEFAULT]
os_region_name = R2
nova_compute_url = http://nova:8774/v2.1
management_networks = n1, n2
management_security_groups = sg1
trove_security_group_rule_cidr = 10.0.0.0/8
nova_keypair = kp
use_nova_server_config_drive = true
volume_time_out = 30
neutron_endpoint_type = internalURL
[service_credentials]
auth_url = http://127.0.0.1:5000/v3
username = trove
password = secret
project_name = service
`)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ConfigFrom(f)
	if err != nil {
		t.Fatal(err)
	}
	if c.Region != "R2" || c.ComputeURL != "http://nova:8774/v2.1" || !slices.Equal(c.ManagementNetworks, []string{"n1", "n2"}) ||
		!slices.Equal(c.ManagementSecurityGroups, []string{"sg1"}) || c.SecurityGroupRuleCIDR != "10.0.0.0/8" ||
		c.KeyPair != "kp" || !c.ConfigDrive || c.VolumeTimeout != 30*time.Second || c.NetworkEndpointType != "internalURL" ||
		c.UserDomainName != "Default" || !c.SecurityGroupsSupport || c.InjectedOwner != "ubuntu:root" {
		t.Fatalf("ConfigFrom = %+v", c)
	}
	bad, _ := config.Parse("[DEFAULT]\nnova_compute_endpoint_type = sideURL\n[service_credentials]\nauth_url = x\nusername = u\npassword = p\nproject_id = p\n")
	if _, err := ConfigFrom(bad); err == nil || !strings.Contains(err.Error(), "nova_compute_endpoint_type") {
		t.Fatalf("bad endpoint type: %v", err)
	}
}

func TestCloudConfigRoundTrip(t *testing.T) {
	files := map[string]string{compute.GuestInfoPath: "[DEFAULT]\nguest_id = x\n", compute.GuestConfigPath: "a: 'b'\n# c\n"}
	ud, err := CloudConfig(files, "ubuntu:root")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(ud, []byte("#cloud-config\n")) {
		t.Fatalf("user_data does not start with #cloud-config:\n%s", ud)
	}
	var doc struct {
		WriteFiles []writeFile `yaml:"write_files"`
	}
	if err := yaml.Unmarshal(ud, &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, w := range doc.WriteFiles {
		c, err := base64.StdEncoding.DecodeString(w.Content)
		if err != nil || w.Encoding != "b64" || w.Permissions != "0600" || w.Owner != "ubuntu:root" {
			t.Fatalf("write_files entry %+v (%v)", w, err)
		}
		got[w.Path] = string(c)
	}
	if len(got) != 2 || got[compute.GuestInfoPath] != files[compute.GuestInfoPath] || got[compute.GuestConfigPath] != files[compute.GuestConfigPath] {
		t.Fatalf("files back from the cloud-config = %v", got)
	}
	if !bytes.Contains(ud, []byte("permissions: \"0600\"")) && !bytes.Contains(ud, []byte("permissions: '0600'")) {
		t.Fatalf("permissions are not a quoted string:\n%s", ud)
	}
}

// adminServer is what admin reads of a server at microversion 2.60.
type adminServer struct {
	Status string `json:"status"`
	Flavor struct {
		OriginalName string `json:"original_name"`
	} `json:"flavor"`
	Image    map[string]any `json:"image"`
	Userdata *string        `json:"OS-EXT-SRV-ATTR:user_data"`
	Volumes  []struct {
		ID string `json:"id"`
	} `json:"os-extended-volumes:volumes_attached"`
}

func (b *bed) adminServer(t *testing.T, id string) adminServer {
	t.Helper()
	var s adminServer
	if err := servers.Get(context.Background(), b.nova, id).ExtractInto(&s); err != nil {
		t.Fatalf("admin GET server %s: %v", id, err)
	}
	return s
}

func (b *bed) userData(t *testing.T, id string) string {
	t.Helper()
	s := b.adminServer(t, id)
	if s.Userdata == nil {
		t.Fatalf("server %s shows no user_data to admin", id)
	}
	ud, err := base64.StdEncoding.DecodeString(*s.Userdata)
	if err != nil {
		t.Fatal(err)
	}
	return string(ud)
}

// delta is what changed between two RequestCounts.
func delta(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if v != before[k] {
			out[k] = v - before[k]
		}
	}
	return out
}

func sorted(s []string) []string { s = slices.Clone(s); sort.Strings(s); return s }

func TestServerLifecycle(t *testing.T) {
	b := newBed(t)
	d := b.drv
	ctx := context.Background()
	demo := b.projectID(t, "demo")
	net, sub := b.tenantNetwork(t, demo)
	fixed := strings.TrimSuffix(sub.CIDR, "0/24") + "10"
	iid := uuid.NewString()

	vol, err := d.CreateVolume(ctx, compute.VolumeSpec{Name: "trove-" + iid, SizeGB: 1, InstanceID: iid})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.DeleteVolume(ctx, vol.ID); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if again, err := d.CreateVolume(ctx, compute.VolumeSpec{Name: "trove-" + iid, SizeGB: 1, InstanceID: iid}); err != nil || again.ID != vol.ID {
		t.Fatalf("a repeated CreateVolume = %+v, %v; want the same volume %s", again, err, vol.ID)
	}
	files := map[string]string{compute.GuestInfoPath: "[DEFAULT]\nguest_id = " + iid + "\n", compute.GuestConfigPath: "[DEFAULT]\n"}
	spec := compute.ServerSpec{
		InstanceID: iid, Name: "trove-go-test-" + iid[:8], ImageID: b.get(t, "TESTBED_IMAGE_MARIADB"),
		Flavor: compute.Flavor{ID: "1"}, UserFiles: files, VolumeID: vol.ID, ProjectID: demo,
		Tags:     []string{"trove_instance", "trove_mariadb"},
		Metadata: map[string]string{"trove_project_id": demo},
		NICs:     []compute.NIC{{NetworkID: net.ID, SubnetID: sub.ID, FixedIP: fixed}},
		Access:   &compute.Access{AllowedCIDRs: []string{"10.0.0.0/8", "192.168.0.0/16"}, Ports: []int{3306}},
	}
	before := d.RequestCounts()
	srv, err := d.CreateServer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("CreateServer requests: %v", delta(before, d.RequestCounts()))
	t.Cleanup(func() {
		if err := d.DeleteServer(ctx, srv.ID); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if again, err := d.CreateServer(ctx, spec); err != nil || again.ID != srv.ID {
		t.Fatalf("a repeated CreateServer = %+v, %v; want the same server %s", again, err, srv.ID)
	}
	srv = waitActive(t, d, srv.ID)
	if srv.FlavorID != "1" || !slices.Contains(srv.Addresses, compute.Address{Network: net.Name, Addr: fixed, Version: 4}) {
		t.Fatalf("server = %+v, want flavor 1 and %s on %s", srv, fixed, net.Name)
	}

	// What the cloud holds: the user port with the group, a management port, rules = CIDRs × ports, user_data
	// = the cloud-config of the files, the volume attached, the server in its anti-affinity group.
	want := []string{"10.0.0.0/8:tcp:3306-3306", "192.168.0.0/16:tcp:3306-3306"}
	if got := sorted(b.ingress(t, iid)); !slices.Equal(got, want) {
		t.Fatalf("ingress rules = %v, want %v", got, want)
	}
	pp, err := ports.List(b.neutron, ports.ListOpts{DeviceID: srv.ID}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := ports.ExtractPorts(pp)
	nets := map[string]ports.Port{}
	for _, p := range ps {
		nets[p.NetworkID] = p
	}
	if len(ps) != 2 || len(nets[net.ID].SecurityGroups) != 1 || nets[b.get(t, "TESTBED_MGMT_NETWORK_ID")].ID == "" {
		t.Fatalf("server ports = %+v, want one on the tenant network with the group and one on the management network", ps)
	}
	wantUD, _ := CloudConfig(files, d.cfg.InjectedOwner)
	if got := b.userData(t, srv.ID); got != string(wantUD) {
		t.Fatalf("user_data = %q, want %q", got, wantUD)
	}
	v, err := volumes.Get(ctx, b.cinder, vol.ID).Extract()
	if err != nil || v.Status != "in-use" || len(v.Attachments) != 1 || v.Attachments[0].ServerID != srv.ID {
		t.Fatalf("volume = %+v, %v; want in-use on %s", v, err, srv.ID)
	}
	// Addresses of many servers in one Nova request.
	beforeCompute := d.RequestCounts()["compute"]
	addrs, err := d.ServerAddresses(ctx, []string{srv.ID, uuid.NewString()})
	if err != nil || len(addrs) != 1 || !slices.Contains(addrs[srv.ID], compute.Address{Network: net.Name, Addr: fixed, Version: 4}) {
		t.Fatalf("ServerAddresses = %v, %v", addrs, err)
	}
	if n := d.RequestCounts()["compute"] - beforeCompute; n != 1 {
		t.Fatalf("ServerAddresses made %d compute requests, want 1", n)
	}

	// Extend the volume in use.
	if err := d.ExtendVolume(ctx, vol.ID, 2); err != nil {
		t.Fatal(err)
	}
	if v, err := volumes.Get(ctx, b.cinder, vol.ID).Extract(); err != nil || v.Size != 2 {
		t.Fatalf("after extend: %+v, %v", v, err)
	}

	// Resize (and a repeat to the same flavor is a no-op).
	if err := d.ResizeServer(ctx, srv.ID, compute.Flavor{ID: "2"}); err != nil {
		t.Fatal(err)
	}
	f2, err := d.GetFlavor(ctx, "2")
	if err != nil {
		t.Fatal(err)
	}
	if s := b.adminServer(t, srv.ID); s.Status != "ACTIVE" || s.Flavor.OriginalName != f2.Name {
		t.Fatalf("after resize Nova shows %s flavor %q, want ACTIVE %q", s.Status, s.Flavor.OriginalName, f2.Name)
	}
	beforeCompute = d.RequestCounts()["compute"]
	if err := d.ResizeServer(ctx, srv.ID, compute.Flavor{ID: "2"}); err != nil {
		t.Fatal(err)
	}
	if n := d.RequestCounts()["compute"] - beforeCompute; n != 1 {
		t.Fatalf("a resize to the current flavor made %d compute requests, want 1 (the read)", n)
	}

	// Rebuild onto another image with new files.
	files2 := map[string]string{compute.GuestInfoPath: "[DEFAULT]\nguest_id = " + iid + "\nrebuilt = 1\n"}
	img2 := b.get(t, "TESTBED_IMAGE_MARIADB_2")
	if err := d.RebuildServer(ctx, srv.ID, img2, files2); err != nil {
		t.Fatal(err)
	}
	wantUD2, _ := CloudConfig(files2, d.cfg.InjectedOwner)
	if got := b.userData(t, srv.ID); got != string(wantUD2) {
		t.Fatalf("user_data after rebuild = %q, want %q", got, wantUD2)
	}
	if s := b.adminServer(t, srv.ID); s.Image["id"] != img2 || len(s.Volumes) != 1 || s.Volumes[0].ID != vol.ID {
		t.Fatalf("after rebuild: image %v volumes %v", s.Image, s.Volumes)
	}

	// Access rewritten: new CIDR, ports.
	if err := d.UpdateAccess(ctx, srv.ID, compute.Access{AllowedCIDRs: []string{"127.0.0.0/8"}, Ports: []int{3306, 4444}}); err != nil {
		t.Fatal(err)
	}
	want = []string{"127.0.0.0/8:tcp:3306-3306", "127.0.0.0/8:tcp:4444-4444"}
	if got := sorted(b.ingress(t, iid)); !slices.Equal(got, want) {
		t.Fatalf("ingress rules after UpdateAccess = %v, want %v", got, want)
	}
	if err := d.UpdateAccess(ctx, srv.ID, compute.Access{IsPublic: true, Ports: []int{3306}}); err != nil {
		t.Fatal(err)
	}
	want = []string{"0.0.0.0/0:tcp:3306-3306"}
	if got := sorted(b.ingress(t, iid)); !slices.Equal(got, want) {
		t.Fatalf("ingress rules after UpdateAccess without CIDRs = %v, want %v", got, want)
	}

	if err := d.RebootServer(ctx, srv.ID); err != nil {
		t.Fatal(err)
	}

	// Delete: nothing of the instance is left, and a repeat succeeds.
	before = d.RequestCounts()
	if err := d.DeleteServer(ctx, srv.ID); err != nil {
		t.Fatal(err)
	}
	t.Logf("DeleteServer requests (polls included): %v", delta(before, d.RequestCounts()))
	if _, err := d.GetServer(ctx, srv.ID); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("GetServer after delete: %v", err)
	}
	if left := b.leftovers(t, iid); len(left) > 0 {
		t.Fatalf("left after DeleteServer: %v", left)
	}
	if err := d.DeleteServer(ctx, srv.ID); err != nil {
		t.Fatalf("a repeated DeleteServer: %v", err)
	}
	if err := d.DeleteVolume(ctx, vol.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GetVolume(ctx, vol.ID); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("GetVolume after delete: %v", err)
	}

	// One Keystone token served every call.
	counts := d.RequestCounts()
	if counts[TokenRequests] != 1 || counts["compute"] < 10 || counts["network"] < 10 {
		t.Fatalf("request counts %v: want one token request across all the calls", counts)
	}
	t.Logf("requests: %v", counts)
}

func TestForeignNetworkRefused(t *testing.T) {
	b := newBed(t)
	d := b.drv
	ctx := context.Background()
	demo := b.projectID(t, "demo")
	foreign, _ := b.tenantNetwork(t, b.projectID(t, "admin"))
	own, ownSub := b.tenantNetwork(t, demo)
	iid := uuid.NewString()
	spec := compute.ServerSpec{InstanceID: iid, Name: "trove-go-test-" + iid[:8], ImageID: b.get(t, "TESTBED_IMAGE_MARIADB"),
		Flavor: compute.Flavor{ID: "1"}, ProjectID: demo, NICs: []compute.NIC{{NetworkID: foreign.ID}},
		Access: &compute.Access{Ports: []int{3306}}}
	_, err := d.CreateServer(ctx, spec)
	if !errors.Is(err, compute.ErrNotFound) || !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), foreign.ID) {
		t.Fatalf("CreateServer on another project's network = %v, want a permanent not-found naming it", err)
	}
	if left := b.leftovers(t, iid); len(left) > 0 {
		t.Fatalf("left after a refused create: %v", left)
	}
	for _, nics := range [][]compute.NIC{
		{{NetworkID: foreign.ID, SubnetID: ownSub.ID}},
		{{NetworkID: own.ID}, {NetworkID: foreign.ID}},
		{{NetworkID: uuid.NewString()}},
	} {
		if err := d.CheckNICs(ctx, demo, nics); !errors.Is(err, compute.ErrNotFound) {
			t.Errorf("CheckNICs(%v) = %v, want not found", nics, err)
		}
	}
	if err := d.CheckNICs(ctx, demo, []compute.NIC{{NetworkID: own.ID, SubnetID: ownSub.ID}, {NetworkID: b.get(t, "TESTBED_SHARED_NETWORK_ID")}}); err != nil {
		t.Fatalf("CheckNICs of the project's own and a shared network: %v", err)
	}
	if err := d.CheckNICs(ctx, demo, []compute.NIC{{NetworkID: own.ID, SubnetID: uuid.NewString()}}); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("CheckNICs with a missing subnet = %v", err)
	}
}

// A server Nova refuses (the image needs more memory than the flavor has) fails CreateServer with Nova's
// reason, and what the call made around it (ports, security group, server group) is gone.
func TestCreateServerRefusedLeavesNothing(t *testing.T) {
	b := newBed(t)
	d := b.drv
	ctx := context.Background()
	demo := b.projectID(t, "demo")
	net, _ := b.tenantNetwork(t, demo)
	img, err := images.Create(ctx, b.glance, images.CreateOpts{Name: "trove-go-test-bigram", ContainerFormat: "bare",
		DiskFormat: "raw", MinRAM: 1 << 20}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = images.Delete(ctx, b.glance, img.ID).ExtractErr() })
	if err := imagedata.Upload(ctx, b.glance, img.ID, strings.NewReader("not a disk")).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	iid := uuid.NewString()
	spec := compute.ServerSpec{InstanceID: iid, Name: "trove-go-test-" + iid[:8], ImageID: img.ID,
		Flavor: compute.Flavor{ID: "1"}, ProjectID: demo, NICs: []compute.NIC{{NetworkID: net.ID}},
		Access: &compute.Access{Ports: []int{3306}}, Locality: "affinity", ServerGroup: "locality_" + iid}
	_, err = d.CreateServer(ctx, spec)
	if err == nil || !errors.Is(err, ErrPermanent) || !strings.Contains(strings.ToLower(err.Error()), "memory") {
		t.Fatalf("CreateServer with an image needing more RAM than the flavor = %v, want Nova's refusal", err)
	}
	t.Logf("error: %v", err)
	if left := b.leftovers(t, iid); len(left) > 0 {
		t.Fatalf("left after a refused create: %v", left)
	}
	gs, err := d.listServerGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.Name == spec.ServerGroup {
			t.Fatalf("server group %s left", g.ID)
		}
	}
}

// Locality: two servers naming the same server group share it (made once with the policy); the group goes with
// its last server.
func TestLocalityServerGroup(t *testing.T) {
	b := newBed(t)
	d := b.drv
	ctx := context.Background()
	group := "locality_" + uuid.NewString()
	var ids []string
	for range 2 {
		iid := uuid.NewString()
		srv, err := d.CreateServer(ctx, compute.ServerSpec{InstanceID: iid, Name: "trove-go-test-" + iid[:8],
			ImageID: b.get(t, "TESTBED_IMAGE_MARIADB"), Flavor: compute.Flavor{ID: "1"}, Locality: "affinity", ServerGroup: group})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := d.DeleteServer(ctx, srv.ID); err != nil {
				t.Errorf("cleanup: %v", err)
			}
			if left := b.leftovers(t, iid); len(left) > 0 {
				t.Errorf("left after DeleteServer: %v", left)
			}
		})
		if s := waitSettle(t, d, srv.ID); s.Status != compute.ServerActive {
			t.Fatalf("server %s is %s (%s); the bed's nova.conf needs ServerGroupAffinityFilter and "+
				"ServerGroupAntiAffinityFilter in [filter_scheduler] enabled_filters", s.ID, s.Status, s.Fault)
		}
		ids = append(ids, srv.ID)
	}
	gs, err := d.listServerGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found []servergroups.ServerGroup
	for _, g := range gs {
		if g.Name == group {
			found = append(found, g)
		}
	}
	if len(found) != 1 || !slices.Equal(sorted(found[0].Members), sorted(ids)) || !slices.Contains(found[0].Policies, "affinity") {
		t.Fatalf("server groups named %s = %+v, want one affinity group with %v", group, found, ids)
	}
	for i, id := range ids {
		if err := d.DeleteServer(ctx, id); err != nil {
			t.Fatal(err)
		}
		_, err := servergroups.Get(ctx, b.nova, found[0].ID).Extract()
		if gone := err != nil; gone != (i == len(ids)-1) {
			t.Fatalf("after deleting %d of %d servers the group is gone = %v (%v)", i+1, len(ids), gone, err)
		}
	}
}

// A server that goes to ERROR shows Nova's fault through GetServer; DeleteServer of it once gone removes its
// ports and group.
func TestServerFault(t *testing.T) {
	b := newBed(t)
	d := b.drv
	ctx := context.Background()
	iid := uuid.NewString()
	// A flavor Nova accepts but no host can give: more RAM than the fake hypervisor has.
	flv := b.hugeFlavor(t)
	srv, err := d.CreateServer(ctx, compute.ServerSpec{InstanceID: iid, Name: "trove-go-test-" + iid[:8],
		ImageID: b.get(t, "TESTBED_IMAGE_MARIADB"), Flavor: compute.Flavor{ID: flv}, Access: &compute.Access{Ports: []int{3306}}})
	if err != nil {
		t.Fatal(err)
	}
	s := waitSettle(t, d, srv.ID)
	if s.Status != compute.ServerError || s.Fault == "" {
		t.Fatalf("server = %+v, want ERROR with a fault", s)
	}
	t.Logf("fault: %s", s.Fault)
	// The server goes behind the driver's back; a driver that never saw it (a restarted taskmanager) still
	// finds the ports and group made around it.
	if err := servers.Delete(ctx, b.nova, srv.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		if _, err := d.GetServer(ctx, srv.ID); errors.Is(err, compute.ErrNotFound) {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("server %s not deleted: %v", srv.ID, err)
		}
	}
	if left := b.leftovers(t, iid); len(left) == 0 {
		t.Fatal("nothing left to clean up before DeleteServer: the test tests nothing")
	}
	if err := b.newDriver(t, "").DeleteServer(ctx, srv.ID); err != nil {
		t.Fatal(err)
	}
	if left := b.leftovers(t, iid); len(left) > 0 {
		t.Fatalf("left after DeleteServer: %v", left)
	}
}

// A public instance's user port gets a floating IP on the external network (the tenant's subnet routed to it),
// shown as a public address; UpdateAccess takes it away and gives it back; DeleteServer removes it.
func TestPublicAccessFloatingIP(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	demo := b.projectID(t, "demo")
	ext, _ := b.network(t, b.projectID(t, "admin"), true, "")
	net, sub := b.network(t, demo, false, "gateway")
	r, err := routers.Create(ctx, b.neutron, routers.CreateOpts{Name: "trove-go-test-router", ProjectID: demo,
		GatewayInfo: &routers.GatewayInfo{NetworkID: ext.ID}}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = routers.RemoveInterface(ctx, b.neutron, r.ID, routers.RemoveInterfaceOpts{SubnetID: sub.ID}).Extract()
		if err := routers.Delete(ctx, b.neutron, r.ID).ExtractErr(); err != nil {
			t.Errorf("deleting router %s: %v", r.ID, err)
		}
	})
	if _, err := routers.AddInterface(ctx, b.neutron, r.ID, routers.AddInterfaceOpts{SubnetID: sub.ID}).Extract(); err != nil {
		t.Fatal(err)
	}
	// A port whose subnet no router joins to an external network gets no floating IP, and that is no error
	// (the first external network routed to the subnet is used; a cloud may have others).
	unrouted, _ := b.tenantNetwork(t, demo)
	port, err := ports.Create(ctx, b.neutron, ports.CreateOpts{NetworkID: unrouted.ID, Name: "trove-go-test-unrouted"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ports.Delete(ctx, b.neutron, port.ID).ExtractErr() })
	if err := b.drv.ensureFloatingIP(ctx, port.ID, true); err != nil {
		t.Fatalf("a floating IP for an unrouted port: %v", err)
	}
	if p, err := floatingips.List(b.neutron, floatingips.ListOpts{PortID: port.ID}).AllPages(ctx); err != nil {
		t.Fatal(err)
	} else if fs, _ := floatingips.ExtractFloatingIPs(p); len(fs) != 0 {
		t.Fatalf("an unrouted port got floating IPs %+v", fs)
	}

	d := b.drv
	iid := uuid.NewString()
	srv, err := d.CreateServer(ctx, compute.ServerSpec{InstanceID: iid, Name: "trove-go-test-" + iid[:8],
		ImageID: b.get(t, "TESTBED_IMAGE_MARIADB"), Flavor: compute.Flavor{ID: "1"}, ProjectID: demo,
		NICs: []compute.NIC{{NetworkID: net.ID}}, Access: &compute.Access{IsPublic: true, Ports: []int{3306}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.DeleteServer(ctx, srv.ID) })
	waitActive(t, d, srv.ID)
	userPort := func() string {
		t.Helper()
		ps, err := d.instancePorts(ctx, iid)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.NetworkID == net.ID {
				return p.ID
			}
		}
		t.Fatalf("no user port for %s", iid)
		return ""
	}()
	fips := func() []floatingips.FloatingIP {
		t.Helper()
		p, err := floatingips.List(b.neutron, floatingips.ListOpts{PortID: userPort}).AllPages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fs, _ := floatingips.ExtractFloatingIPs(p)
		return fs
	}
	fs := fips()
	if len(fs) != 1 || fs[0].FloatingNetworkID != ext.ID {
		t.Fatalf("floating IPs of the user port = %+v, want one on %s", fs, ext.ID)
	}
	// Nova learns of it from Neutron's network-changed event.
	deadline := time.Now().Add(60 * time.Second)
	for {
		s, err := d.GetServer(ctx, srv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(s.Addresses, compute.Address{Network: net.Name, Addr: fs[0].FloatingIP, Version: 4, Public: true}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("addresses = %+v, want the floating IP %s public", s.Addresses, fs[0].FloatingIP)
		}
		time.Sleep(time.Second)
	}
	if err := d.UpdateAccess(ctx, srv.ID, compute.Access{Ports: []int{3306}}); err != nil {
		t.Fatal(err)
	}
	if fs := fips(); len(fs) != 0 {
		t.Fatalf("floating IPs after UpdateAccess not public = %+v", fs)
	}
	if err := d.UpdateAccess(ctx, srv.ID, compute.Access{IsPublic: true, Ports: []int{3306}}); err != nil {
		t.Fatal(err)
	}
	if fs := fips(); len(fs) != 1 {
		t.Fatalf("floating IPs after UpdateAccess public = %+v", fs)
	}
	if err := d.DeleteServer(ctx, srv.ID); err != nil {
		t.Fatal(err)
	}
	p, err := floatingips.List(b.neutron, floatingips.ListOpts{FloatingNetworkID: ext.ID}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fs, _ := floatingips.ExtractFloatingIPs(p); len(fs) != 0 {
		t.Fatalf("floating IPs left on %s: %+v", ext.ID, fs)
	}
	if left := b.leftovers(t, iid); len(left) > 0 {
		t.Fatalf("left after DeleteServer: %v", left)
	}
}

// A volume still attached to a server is detached, then deleted; flavors, images by id and by tags.
func TestAttachedVolumeFlavorsImages(t *testing.T) {
	b := newBed(t)
	d := b.drv
	ctx := context.Background()
	iid := uuid.NewString()
	vol, err := d.CreateVolume(ctx, compute.VolumeSpec{SizeGB: 1, InstanceID: iid})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.DeleteVolume(ctx, vol.ID) })
	if vol.Name != "trove-"+iid || vol.Status != compute.VolumeAvailable {
		t.Fatalf("volume = %+v", vol)
	}
	srv, err := d.CreateServer(ctx, compute.ServerSpec{InstanceID: iid, Name: "trove-go-test-" + iid[:8],
		ImageID: b.get(t, "TESTBED_IMAGE_MARIADB"), Flavor: compute.Flavor{ID: "1"}, VolumeID: vol.ID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.DeleteServer(ctx, srv.ID) })
	waitActive(t, d, srv.ID)
	if v, err := d.GetVolume(ctx, vol.ID); err != nil || v.Status != compute.VolumeInUse {
		t.Fatalf("volume = %+v, %v; want in-use", v, err)
	}
	if err := d.DeleteVolume(ctx, vol.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GetVolume(ctx, vol.ID); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("GetVolume after deleting an attached volume: %v", err)
	}
	if err := d.DeleteVolume(ctx, vol.ID); err != nil {
		t.Fatalf("a repeated DeleteVolume: %v", err)
	}

	fs, err := d.ListFlavors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]compute.Flavor{}
	for _, f := range fs {
		ids[f.ID] = f
	}
	for _, id := range []string{"1", "2", "3", "4", "5"} {
		if ids[id].RAM == 0 {
			t.Fatalf("flavors %v lack %s", fs, id)
		}
	}
	if f, err := d.GetFlavor(ctx, "1"); err != nil || f != ids["1"] {
		t.Fatalf("GetFlavor(1) = %+v, %v; want %+v", f, err, ids["1"])
	}
	if _, err := d.GetFlavor(ctx, "no-such-flavor"); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("GetFlavor of a missing flavor: %v", err)
	}
	if img, err := d.ResolveImage(ctx, b.get(t, "TESTBED_IMAGE_MARIADB")); err != nil || img.ID != b.env["TESTBED_IMAGE_MARIADB"] || img.Name == "" {
		t.Fatalf("ResolveImage = %+v, %v", img, err)
	}
	if _, err := d.ResolveImage(ctx, uuid.NewString()); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("ResolveImage of a missing image: %v", err)
	}
	tag := "trove-go-test-" + uuid.NewString()[:8]
	var made []string
	for range 2 {
		img, err := images.Create(ctx, b.glance, images.CreateOpts{Name: tag, ContainerFormat: "bare", DiskFormat: "raw",
			Tags: []string{tag, "trove"}}).Extract()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = images.Delete(ctx, b.glance, img.ID).ExtractErr() })
		if err := imagedata.Upload(ctx, b.glance, img.ID, strings.NewReader("x")).ExtractErr(); err != nil {
			t.Fatal(err)
		}
		made = append(made, img.ID)
		time.Sleep(1100 * time.Millisecond) // created_at has one-second resolution
	}
	if img, err := d.ImageByTags(ctx, []string{"trove", tag}); err != nil || img.ID != made[1] {
		t.Fatalf("ImageByTags = %+v, %v; want the newest %s", img, err, made[1])
	}
	if _, err := d.ImageByTags(ctx, []string{tag, "no-such-tag"}); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("ImageByTags without a match: %v", err)
	}
}

// Trove's endpoint overrides (nova_compute_url and cinder_url get the project id appended) replace the catalog.
func TestEndpointOverrides(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	d := b.newDriver(t, "[DEFAULT]\nnova_compute_url = "+b.get(t, "TESTBED_NOVA_URL")+"\ncinder_url = "+b.get(t, "TESTBED_CINDER_URL")+
		"\nneutron_url = "+b.get(t, "TESTBED_NEUTRON_URL")+"\nglance_url = "+b.get(t, "TESTBED_GLANCE_URL")+"\n")
	service := b.projectID(t, b.get(t, "TROVE_SERVICE_PROJECT"))
	if want := strings.TrimRight(b.env["TESTBED_NOVA_URL"], "/") + "/" + service + "/"; d.compute.Endpoint != want {
		t.Fatalf("compute endpoint = %s, want %s", d.compute.Endpoint, want)
	}
	if fs, err := d.ListFlavors(ctx); err != nil || len(fs) < 5 {
		t.Fatalf("ListFlavors through nova_compute_url = %v, %v", fs, err)
	}
	if _, err := d.GetVolume(ctx, uuid.NewString()); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("GetVolume through cinder_url: %v", err)
	}
	if err := d.CheckNICs(ctx, b.projectID(t, "demo"), []compute.NIC{{NetworkID: b.get(t, "TESTBED_SHARED_NETWORK_ID")}}); err != nil {
		t.Fatalf("CheckNICs through neutron_url: %v", err)
	}
	if _, err := d.ResolveImage(ctx, b.get(t, "TESTBED_IMAGE_MARIADB")); err != nil {
		t.Fatalf("ResolveImage through glance_url: %v", err)
	}
	counts := d.RequestCounts()
	if counts["compute"] != 1 || counts["volumev3"] != 1 || counts["network"] != 1 || counts["image"] != 1 {
		t.Fatalf("request counts %v, want one per service", counts)
	}
}

// ListVolumeTypes shows Cinder's types, a new one included, with its visibility and description.
func TestListVolumeTypes(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	name := "trove-go-test-" + uuid.NewString()[:8]
	public := true
	vt, err := volumetypes.Create(ctx, b.cinder, volumetypes.CreateOpts{Name: name, Description: "made by the test", IsPublic: &public}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = volumetypes.Delete(ctx, b.cinder, vt.ID).ExtractErr() })
	types, err := b.drv.ListVolumeTypes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := compute.VolumeType{ID: vt.ID, Name: name, Description: "made by the test", IsPublic: true}
	if !slices.Contains(types, want) {
		t.Fatalf("ListVolumeTypes = %+v, want it to hold %+v", types, want)
	}
}
