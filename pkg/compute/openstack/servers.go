package openstack

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/trove-go/trove/pkg/compute"
)

// InstanceTag is the server tag CreateServer adds to find an instance's server again (a retried create).
func InstanceTag(instanceID string) string { return "trove_instance_id_" + instanceID }

// instanceMetadata is the server metadata key holding the Trove instance id (Trove's trove_instance_id).
const instanceMetadata = "trove_instance_id"

// novaServer is what the driver reads of a server (computeReadMicroversion). Not servers.Server embedded: its
// UnmarshalJSON would hide the fields added here.
type novaServer struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Status    string            `json:"status"`
	TaskState string            `json:"OS-EXT-STS:task_state"`
	Flavor    map[string]any    `json:"flavor"`
	Addresses map[string]any    `json:"addresses"`
	Metadata  map[string]string `json:"metadata"`
	Fault     struct {
		Message string `json:"message"`
	} `json:"fault"`
}

func (s novaServer) flavorID() string {
	id, _ := s.Flavor["id"].(string)
	return id
}

// CreateServer boots the instance's server: the security group and ports first (security group
// trove_sg-<instance id> with the access rules; a port per requested network and one per management network,
// named trove-<instance id>), a floating IP when the access is public and the cloud has an external network,
// the server group of its locality, then the server with the data volume as its second disk and the guest's
// files as cloud-init user_data. A retry finds what an earlier attempt made (the server by InstanceTag, ports
// and the group by name); a failure removes what this call made. It returns once Nova accepted the server
// (BUILD); GetServer follows it to ACTIVE or ERROR (with Nova's fault).
func (d *Driver) CreateServer(ctx context.Context, spec compute.ServerSpec) (srv compute.Server, err error) {
	if spec.InstanceID == "" || spec.ImageID == "" || spec.Flavor.ID == "" {
		return compute.Server{}, permanentf("a server needs an instance id, an image and a flavor")
	}
	iid := spec.InstanceID
	log := d.log.WithField("instance", iid)
	if s, ok, err := d.findServer(ctx, iid); err != nil {
		return compute.Server{}, err
	} else if ok {
		log.WithField("server", s.ID).Info("the instance's server exists already")
		return d.toServer(s), nil
	}
	if len(spec.NICs) > 0 {
		if err := d.CheckNICs(ctx, spec.ProjectID, spec.NICs); err != nil {
			return compute.Server{}, err
		}
	}
	userData, err := CloudConfig(spec.UserFiles, d.cfg.InjectedOwner)
	if err != nil {
		return compute.Server{}, err
	}

	var undo []func(context.Context) error
	defer func() {
		if err == nil {
			return
		}
		cctx := context.WithoutCancel(ctx)
		for i := len(undo) - 1; i >= 0; i-- {
			if uerr := undo[i](cctx); uerr != nil {
				log.WithError(uerr).Error("removing what a failed server create made")
			}
		}
	}()

	access := compute.Access{}
	if spec.Access != nil {
		access = *spec.Access
	}
	ports, sg, err := d.preparePorts(ctx, iid, spec.NICs, access, &undo)
	if err != nil {
		return compute.Server{}, err
	}

	var hints servers.SchedulerHintOptsBuilder
	if spec.Locality != "" {
		name := spec.ServerGroup
		if name == "" {
			name = "locality_" + iid
		}
		gid, err := d.ensureServerGroup(ctx, name, spec.Locality, &undo)
		if err != nil {
			return compute.Server{}, err
		}
		hints = servers.SchedulerHintOpts{Group: gid}
	}

	meta := map[string]string{}
	for k, v := range spec.Metadata {
		meta[k] = v
	}
	meta[instanceMetadata] = iid
	tags := slices.Clone(spec.Tags)
	if !slices.Contains(tags, InstanceTag(iid)) {
		tags = append(tags, InstanceTag(iid))
	}
	var nets any = "none"
	if len(ports) > 0 {
		ns := make([]servers.Network, 0, len(ports))
		for _, p := range ports {
			ns = append(ns, servers.Network{Port: p})
		}
		nets = ns
	}
	opts := servers.CreateOpts{
		Name: spec.Name, ImageRef: spec.ImageID, FlavorRef: spec.Flavor.ID,
		UserData:         []byte(base64.StdEncoding.EncodeToString(userData)),
		AvailabilityZone: spec.AZ, Networks: nets, Metadata: meta, Tags: tags,
	}
	if opts.Name == "" {
		opts.Name = iid
	}
	if d.cfg.ConfigDrive {
		t := true
		opts.ConfigDrive = &t
	}
	if spec.VolumeID != "" {
		// Trove's data volume: an existing Cinder volume as the second disk (the image stays the boot disk),
		// kept when the server goes (the taskmanager deletes it itself).
		opts.BlockDevice = []servers.BlockDevice{{
			SourceType: servers.SourceImage, DestinationType: servers.DestinationLocal, UUID: spec.ImageID,
			BootIndex: 0, DeleteOnTermination: true,
		}, {
			SourceType: servers.SourceVolume, DestinationType: servers.DestinationVolume, UUID: spec.VolumeID,
			BootIndex: -1, DeleteOnTermination: false,
		}}
	}
	var builder servers.CreateOptsBuilder = opts
	if d.cfg.KeyPair != "" {
		builder = keypairs.CreateOptsExt{CreateOptsBuilder: opts, KeyName: d.cfg.KeyPair}
	}
	var created novaServer
	if err := servers.Create(ctx, d.compute, builder, hints).ExtractInto(&created); err != nil {
		// A create whose answer was lost may have made the server: keep what it uses then.
		if !refused(err) {
			if s, ok, ferr := d.findServer(ctx, iid); ferr == nil && ok {
				log.WithError(err).WithField("server", s.ID).Warn("the server create failed but the server exists")
				return d.toServer(s), nil
			}
		}
		return compute.Server{}, apiError("creating the server", err)
	}
	d.remember(created.ID, iid)
	d.markSecGroup(ctx, iid, sg, created.ID)
	log.WithField("server", created.ID).Info("server created")
	created.Status = compute.ServerBuild
	created.Name = opts.Name
	return d.toServer(created), nil
}

// findServer is the instance's server made by an earlier CreateServer (by InstanceTag), if any.
func (d *Driver) findServer(ctx context.Context, instanceID string) (novaServer, bool, error) {
	var found []novaServer
	err := servers.List(d.read, servers.ListOpts{Tags: InstanceTag(instanceID)}).EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
		var page []novaServer
		if err := servers.ExtractServersInto(p, &page); err != nil {
			return false, err
		}
		found = append(found, page...)
		return true, nil
	})
	if err != nil {
		return novaServer{}, false, apiError("looking for the instance's server", err)
	}
	for _, s := range found {
		if s.Status != "DELETED" && s.Status != "SOFT_DELETED" {
			d.remember(s.ID, instanceID)
			return s, true, nil
		}
	}
	return novaServer{}, false, nil
}

func (d *Driver) remember(serverID, instanceID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.instances[serverID] = instanceID
}

func (d *Driver) getServer(ctx context.Context, id string) (novaServer, error) {
	var s novaServer
	if err := servers.Get(ctx, d.read, id).ExtractInto(&s); err != nil {
		return s, apiError("server "+id, err)
	}
	if iid := s.Metadata[instanceMetadata]; iid != "" {
		d.remember(s.ID, iid)
	}
	return s, nil
}

// GetServer reads the server: status, fault, flavor and addresses.
func (d *Driver) GetServer(ctx context.Context, id string) (compute.Server, error) {
	s, err := d.getServer(ctx, id)
	if err != nil {
		return compute.Server{}, err
	}
	return d.toServer(s), nil
}

// statusOf maps Nova's status to the compute.Server* constants; states without one (RESIZE, VERIFY_RESIZE,
// REVERT_RESIZE, REBUILD, MIGRATING, PAUSED, SUSPENDED, SHELVED…) are passed on as Nova names them.
func statusOf(nova string) string {
	switch nova {
	case "HARD_REBOOT":
		return compute.ServerReboot
	case "SOFT_DELETED", "DELETED":
		return compute.ServerDeleted
	}
	return nova
}

func (d *Driver) toServer(s novaServer) compute.Server {
	out := compute.Server{ID: s.ID, Name: s.Name, Status: statusOf(s.Status), FlavorID: s.flavorID(),
		Addresses: addressesOf(s.Addresses)}
	if s.Status == "ERROR" || s.Fault.Message != "" && s.Status != "ACTIVE" {
		out.Fault = strings.TrimSpace(s.Fault.Message)
	}
	return out
}

// addressesOf turns Nova's addresses (network name → [{addr, version, OS-EXT-IPS:type}]) into compute
// addresses, floating ones Public; every network is kept, the management network's too (as Trove shows them).
func addressesOf(m map[string]any) []compute.Address {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []compute.Address
	for _, n := range names {
		list, _ := m[n].([]any)
		for _, a := range list {
			e, _ := a.(map[string]any)
			addr, _ := e["addr"].(string)
			if addr == "" {
				continue
			}
			v, _ := e["version"].(float64)
			typ, _ := e["OS-EXT-IPS:type"].(string)
			out = append(out, compute.Address{Network: n, Addr: addr, Version: int(v), Public: typ == "floating"})
		}
	}
	return out
}

// ServerAddresses lists the servers of the service project (one Nova request per page of servers) and returns
// the addresses of those asked for.
func (d *Driver) ServerAddresses(ctx context.Context, ids []string) (map[string][]compute.Address, error) {
	out := make(map[string][]compute.Address, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	err := servers.List(d.read, servers.ListOpts{}).EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
		var page []novaServer
		if err := servers.ExtractServersInto(p, &page); err != nil {
			return false, err
		}
		for _, s := range page {
			if want[s.ID] {
				out[s.ID] = addressesOf(s.Addresses)
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, apiError("listing servers", err)
	}
	return out, nil
}

// DeleteServer deletes the server, waits (server_delete_time_out) until Nova no longer has it, then removes
// what CreateServer made around it: its ports and their floating IPs, its security group, and its server
// group once no server is left in it. A server already gone succeeds (the rest is removed when the driver
// still knows the server's instance). An instance id stands for the server tagged with it.
func (d *Driver) DeleteServer(ctx context.Context, id string) error {
	s, err := d.getServer(ctx, id)
	if errors.Is(err, compute.ErrNotFound) {
		// Gone already (an earlier attempt, or someone else): what was made around it is found through the
		// instance the driver remembers, else through the security group marked with the server's id.
		d.mu.Lock()
		iid := d.instances[id]
		d.mu.Unlock()
		if iid == "" {
			if iid, err = d.instanceOfSecGroup(ctx, id); err != nil {
				return err
			}
		}
		if iid != "" {
			return d.CleanupInstance(ctx, iid)
		}
		// The taskmanager passes the instance id when the server's id was never recorded (killed right after
		// the create): the server is found by its instance tag, and what was made around it by its names.
		s, ok, err := d.findServer(ctx, id)
		if err != nil {
			return err
		}
		if ok {
			return d.DeleteServer(ctx, s.ID)
		}
		return d.CleanupInstance(ctx, id)
	}
	if err != nil {
		return err
	}
	iid := s.Metadata[instanceMetadata]
	groups, err := d.serverGroupsOf(ctx, id)
	if err != nil {
		return err
	}
	if err := servers.Delete(ctx, d.compute, id).ExtractErr(); err != nil && !notFound(err) {
		return apiError("deleting server "+id, err)
	}
	err = d.poll(ctx, d.cfg.DeleteTimeout, "server "+id+" to be deleted", func() (bool, error) {
		_, err := d.getServer(ctx, id)
		if errors.Is(err, compute.ErrNotFound) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return err
	}
	d.log.WithFields(map[string]any{"server": id, "instance": iid}).Info("server deleted")
	if iid != "" {
		if err := d.CleanupInstance(ctx, iid); err != nil {
			return err
		}
	}
	for _, g := range groups {
		if err := d.deleteServerGroupIfEmpty(ctx, g); err != nil {
			return err
		}
	}
	d.mu.Lock()
	delete(d.instances, id)
	d.mu.Unlock()
	return nil
}

// CleanupInstance removes the network objects CreateServer made for an instance (its ports with their floating
// IPs, its security group); nothing left is fine. DeleteServer calls it; a caller that knows an instance whose
// server is gone may call it too.
func (d *Driver) CleanupInstance(ctx context.Context, instanceID string) error {
	return d.cleanupNetwork(ctx, instanceID)
}

// waitSettled waits until the server has no task in progress and is in one of want (ERROR fails with Nova's
// fault).
func (d *Driver) waitSettled(ctx context.Context, id, what string, timeout time.Duration, want ...string) (novaServer, error) {
	var last novaServer
	err := d.poll(ctx, timeout, "server "+id+" "+what, func() (bool, error) {
		s, err := d.getServer(ctx, id)
		if err != nil {
			return false, err
		}
		last = s
		if s.Status == "ERROR" {
			return false, permanentf("server %s went to ERROR while %s: %s", id, what, faultOf(s))
		}
		return s.TaskState == "" && slices.Contains(want, s.Status), nil
	})
	return last, err
}

func faultOf(s novaServer) string {
	if s.Fault.Message != "" {
		return s.Fault.Message
	}
	return "the compute service gave no reason"
}

// RebootServer soft-reboots the server and waits until it is ACTIVE again.
func (d *Driver) RebootServer(ctx context.Context, id string) error {
	if err := servers.Reboot(ctx, d.compute, id, servers.RebootOpts{Type: servers.SoftReboot}).ExtractErr(); err != nil {
		return apiError("rebooting server "+id, err)
	}
	_, err := d.waitSettled(ctx, id, "rebooting", d.cfg.RebootTimeout, "ACTIVE")
	return err
}

// rebuildOpts is a rebuild with new user_data (microversion 2.57).
type rebuildOpts struct {
	ImageRef string
	UserData string
}

func (o rebuildOpts) ToServerRebuildMap() (map[string]any, error) {
	return map[string]any{"rebuild": map[string]any{"imageRef": o.ImageRef, "user_data": o.UserData}}, nil
}

// RebuildServer rebuilds the server from imageID with the guest's files as new user_data; ports and the data
// volume stay. It waits until the server is ACTIVE again.
func (d *Driver) RebuildServer(ctx context.Context, id, imageID string, userFiles map[string]string) error {
	ud, err := CloudConfig(userFiles, d.cfg.InjectedOwner)
	if err != nil {
		return err
	}
	opts := rebuildOpts{ImageRef: imageID, UserData: base64.StdEncoding.EncodeToString(ud)}
	if err := servers.Rebuild(ctx, d.compute, id, opts).Err; err != nil {
		return apiError("rebuilding server "+id, err)
	}
	_, err = d.waitSettled(ctx, id, "rebuilding", d.cfg.ResizeTimeout, "ACTIVE")
	return err
}

// ResizeServer gives the server another flavor: Nova's resize, then its confirmation once VERIFY_RESIZE. A
// resize Nova rolls back (the server ACTIVE on the old flavor, with a fault) or one that puts the server in
// ERROR fails with Nova's reason. The server's current flavor succeeds at once; a server left in VERIFY_RESIZE
// by an earlier attempt is confirmed.
func (d *Driver) ResizeServer(ctx context.Context, id string, flavor compute.Flavor) error {
	s, err := d.getServer(ctx, id)
	if err != nil {
		return err
	}
	if s.TaskState != "" || s.Status == "RESIZE" || s.Status == "REVERT_RESIZE" {
		// An earlier attempt is still under way: let it finish first.
		if s, err = d.waitSettled(ctx, id, "finishing its current task", d.cfg.ResizeTimeout, "ACTIVE", "VERIFY_RESIZE"); err != nil {
			return err
		}
	}
	if s.Status == "ACTIVE" && s.flavorID() == flavor.ID {
		return nil
	}
	if s.Status != "VERIFY_RESIZE" {
		if err := servers.Resize(ctx, d.compute, id, servers.ResizeOpts{FlavorRef: flavor.ID}).ExtractErr(); err != nil {
			return apiError("resizing server "+id, err)
		}
		s, err = d.waitSettled(ctx, id, "resizing", d.cfg.ResizeTimeout, "VERIFY_RESIZE", "ACTIVE")
		if err != nil {
			return err
		}
		if s.Status == "ACTIVE" {
			if s.flavorID() == flavor.ID {
				return nil
			}
			return permanentf("resizing server %s to flavor %s failed: %s", id, flavor.ID, faultOf(s))
		}
	}
	if err := servers.ConfirmResize(ctx, d.compute, id).ExtractErr(); err != nil {
		if rerr := servers.RevertResize(ctx, d.compute, id).ExtractErr(); rerr != nil {
			d.log.WithError(rerr).WithField("server", id).Warn("reverting a resize that could not be confirmed")
		}
		return apiError("confirming the resize of server "+id, err)
	}
	s, err = d.waitSettled(ctx, id, "confirming the resize", d.cfg.ResizeTimeout, "ACTIVE")
	if err != nil {
		return err
	}
	if got := s.flavorID(); got != flavor.ID {
		return fmt.Errorf("server %s runs flavor %s after the resize to %s", id, got, flavor.ID)
	}
	return nil
}

// serverAccessOf is the instance id of a server, for AccessController.
func (d *Driver) instanceOf(ctx context.Context, id string) (string, error) {
	s, err := d.getServer(ctx, id)
	if err != nil {
		return "", err
	}
	iid := s.Metadata[instanceMetadata]
	if iid == "" {
		return "", permanentf("server %s is not a Trove instance's (no %s metadata)", id, instanceMetadata)
	}
	return iid, nil
}
