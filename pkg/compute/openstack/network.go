package openstack

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/external"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"

	"github.com/trove-go/trove/pkg/compute"
)

// Trove's names: the port of an instance trove-<id> (user and management ports alike, told apart by their
// description) and its security group <trove_security_group_name_prefix>-<id>.
func portName(instanceID string) string { return "trove-" + instanceID }

func (d *Driver) secGroupName(instanceID string) string {
	return d.cfg.SecurityGroupNamePrefix + "-" + instanceID
}

func portDescription(instanceID string, mgmt bool) string {
	if mgmt {
		return "Management port for trove instance " + instanceID
	}
	return "User port for trove instance " + instanceID
}

// CheckNICs checks that the project may use each requested network (its own or a shared one), subnet (on that
// network) and port (its own): anything else is refused with an error wrapping compute.ErrNotFound and
// ErrPermanent that names it, as Trove answers "cannot be found" (tenant isolation: the driver creates ports
// as the service user, who could reach every project's networks).
func (d *Driver) CheckNICs(ctx context.Context, projectID string, nics []compute.NIC) error {
	if projectID == "" && len(nics) > 0 {
		return permanentf("nics need the instance's project to be checked")
	}
	notYours := func(kind, id string) error {
		return wrapped{msg: fmt.Sprintf("%s %s cannot be found", kind, id), errs: []error{compute.ErrNotFound, ErrPermanent}}
	}
	for _, n := range nics {
		if n.PortID != "" {
			p, err := ports.Get(ctx, d.network, n.PortID).Extract()
			if notFound(err) || err == nil && p.ProjectID != projectID {
				return notYours("Port", n.PortID)
			}
			if err != nil {
				return apiError("port "+n.PortID, err)
			}
			continue
		}
		if n.NetworkID == "" {
			return permanentf("a nic needs a network or a port")
		}
		net, err := networks.Get(ctx, d.network, n.NetworkID).Extract()
		if notFound(err) || err == nil && net.ProjectID != projectID && !net.Shared {
			return notYours("Network", n.NetworkID)
		}
		if err != nil {
			return apiError("network "+n.NetworkID, err)
		}
		if n.SubnetID != "" {
			s, err := subnets.Get(ctx, d.network, n.SubnetID).Extract()
			if notFound(err) || err == nil && s.NetworkID != n.NetworkID {
				return notYours("Subnet", n.SubnetID)
			}
			if err != nil {
				return apiError("subnet "+n.SubnetID, err)
			}
		}
		if n.FixedIP != "" {
			if _, err := netip.ParseAddr(n.FixedIP); err != nil {
				return permanentf("fixed IP %q is not an IP address", n.FixedIP)
			}
		}
	}
	return nil
}

// preparePorts makes (or finds) the instance's security group and ports: the requested networks first, the
// management networks last (Trove's order), and the floating IP of a public instance. It returns the port ids
// in the order the server gets them, and the group's id ("" without one).
func (d *Driver) preparePorts(ctx context.Context, iid string, nics []compute.NIC, access compute.Access, undo *[]func(context.Context) error) ([]string, string, error) {
	var userSGs []string
	if d.cfg.SecurityGroupsSupport && (len(nics) > 0 || len(d.cfg.ManagementNetworks) > 0) {
		sg, err := d.ensureSecGroup(ctx, iid, undo)
		if err != nil {
			return nil, "", err
		}
		if err := d.setRules(ctx, sg, d.cidrs(access.AllowedCIDRs), access.Ports); err != nil {
			return nil, "", err
		}
		userSGs = []string{sg}
	}
	existing, err := d.instancePorts(ctx, iid)
	if err != nil {
		return nil, "", err
	}
	var ids []string
	for i, n := range nics {
		if n.PortID != "" {
			ids = append(ids, n.PortID)
			continue
		}
		id, err := d.ensurePort(ctx, iid, n, userSGs, false, existing, undo)
		if err != nil {
			return nil, "", err
		}
		ids = append(ids, id)
		if i == 0 && access.IsPublic {
			if err := d.ensureFloatingIP(ctx, id, true); err != nil {
				return nil, "", err
			}
		}
	}
	mgmtSGs := userSGs
	if len(d.cfg.ManagementSecurityGroups) > 0 {
		mgmtSGs = d.cfg.ManagementSecurityGroups
	}
	for _, net := range d.cfg.ManagementNetworks {
		id, err := d.ensurePort(ctx, iid, compute.NIC{NetworkID: net}, mgmtSGs, true, existing, undo)
		if err != nil {
			return nil, "", err
		}
		ids = append(ids, id)
	}
	sg := ""
	if len(userSGs) > 0 {
		sg = userSGs[0]
	}
	return ids, sg, nil
}

// cidrs is the rule sources: the allowed CIDRs, or trove_security_group_rule_cidr.
func (d *Driver) cidrs(allowed []string) []string {
	if len(allowed) > 0 {
		return allowed
	}
	return []string{d.cfg.SecurityGroupRuleCIDR}
}

// instancePorts lists the ports made for the instance (by Trove's port name).
func (d *Driver) instancePorts(ctx context.Context, iid string) ([]ports.Port, error) {
	p, err := ports.List(d.network, ports.ListOpts{Name: portName(iid)}).AllPages(ctx)
	if err != nil {
		return nil, apiError("listing the instance's ports", err)
	}
	ps, err := ports.ExtractPorts(p)
	if err != nil {
		return nil, apiError("listing the instance's ports", err)
	}
	return ps, nil
}

func (d *Driver) ensurePort(ctx context.Context, iid string, n compute.NIC, sgs []string, mgmt bool, existing []ports.Port, undo *[]func(context.Context) error) (string, error) {
	desc := portDescription(iid, mgmt)
	for _, p := range existing {
		if p.NetworkID == n.NetworkID && p.Description == desc && p.DeviceID == "" {
			return p.ID, nil
		}
	}
	opts := ports.CreateOpts{Name: portName(iid), Description: desc, NetworkID: n.NetworkID}
	if sgs != nil {
		opts.SecurityGroups = &sgs
	}
	if n.SubnetID != "" || n.FixedIP != "" {
		ip := ports.IP{SubnetID: n.SubnetID, IPAddress: n.FixedIP}
		opts.FixedIPs = []ports.IP{ip}
	}
	p, err := ports.Create(ctx, d.network, opts).Extract()
	if err != nil {
		kind := "user"
		if mgmt {
			kind = "management"
		}
		return "", apiError(fmt.Sprintf("creating the %s port on network %s", kind, n.NetworkID), err)
	}
	*undo = append(*undo, func(ctx context.Context) error { return d.deletePort(ctx, p.ID) })
	return p.ID, nil
}

// deletePort deletes a port and its floating IPs; missing ones are fine.
func (d *Driver) deletePort(ctx context.Context, id string) error {
	if err := d.ensureFloatingIP(ctx, id, false); err != nil {
		return err
	}
	if err := ports.Delete(ctx, d.network, id).ExtractErr(); err != nil && !notFound(err) {
		return apiError("deleting port "+id, err)
	}
	return nil
}

func (d *Driver) findSecGroup(ctx context.Context, iid string) (string, error) {
	p, err := groups.List(d.network, groups.ListOpts{Name: d.secGroupName(iid)}).AllPages(ctx)
	if err != nil {
		return "", apiError("listing security groups", err)
	}
	gs, err := groups.ExtractGroups(p)
	if err != nil {
		return "", apiError("listing security groups", err)
	}
	for _, g := range gs {
		if g.Name == d.secGroupName(iid) {
			return g.ID, nil
		}
	}
	return "", nil
}

func (d *Driver) ensureSecGroup(ctx context.Context, iid string, undo *[]func(context.Context) error) (string, error) {
	if id, err := d.findSecGroup(ctx, iid); err != nil || id != "" {
		return id, err
	}
	g, err := groups.Create(ctx, d.network, groups.CreateOpts{Name: d.secGroupName(iid),
		Description: "Security group for trove instance " + iid}).Extract()
	if err != nil {
		return "", apiError("creating the security group", err)
	}
	*undo = append(*undo, func(ctx context.Context) error {
		if err := groups.Delete(ctx, d.network, g.ID).ExtractErr(); err != nil && !notFound(err) {
			return apiError("deleting security group "+g.ID, err)
		}
		return nil
	})
	return g.ID, nil
}

type ruleKey struct {
	cidr string
	port int
}

// setRules makes the group's ingress rules exactly TCP to each port from each CIDR (egress rules are left as
// Neutron made them). Ports nil keeps the ports the group opens now.
func (d *Driver) setRules(ctx context.Context, sg string, cidrs []string, tcpPorts []int) error {
	p, err := rules.List(d.network, rules.ListOpts{SecGroupID: sg, Direction: "ingress"}).AllPages(ctx)
	if err != nil {
		return apiError("listing security group rules", err)
	}
	have, err := rules.ExtractRules(p)
	if err != nil {
		return apiError("listing security group rules", err)
	}
	if tcpPorts == nil {
		for _, r := range have {
			if r.Protocol == "tcp" && r.PortRangeMin == r.PortRangeMax && r.PortRangeMin > 0 && !slices.Contains(tcpPorts, r.PortRangeMin) {
				tcpPorts = append(tcpPorts, r.PortRangeMin)
			}
		}
	}
	want := map[ruleKey]bool{}
	for _, c := range cidrs {
		pfx, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return permanentf("allowed CIDR %q: %v", c, err)
		}
		for _, port := range tcpPorts {
			want[ruleKey{pfx.Masked().String(), port}] = true
		}
	}
	kept := map[ruleKey]bool{}
	for _, r := range have {
		k := ruleKey{r.RemoteIPPrefix, r.PortRangeMin}
		if r.Direction == "ingress" && r.Protocol == "tcp" && r.PortRangeMin == r.PortRangeMax && want[k] && !kept[k] {
			kept[k] = true
			continue
		}
		if err := rules.Delete(ctx, d.network, r.ID).ExtractErr(); err != nil && !notFound(err) {
			return apiError("deleting security group rule "+r.ID, err)
		}
	}
	for k := range want {
		if kept[k] {
			continue
		}
		ether := rules.EtherType4
		if netip.MustParsePrefix(k.cidr).Addr().Is6() {
			ether = rules.EtherType6
		}
		_, err := rules.Create(ctx, d.network, rules.CreateOpts{
			Direction: rules.DirIngress, EtherType: ether, SecGroupID: sg, Protocol: rules.ProtocolTCP,
			PortRangeMin: k.port, PortRangeMax: k.port, RemoteIPPrefix: k.cidr,
		}).Extract()
		if err != nil {
			return apiError("creating the security group rule "+k.cidr+" port "+strconv.Itoa(k.port), err)
		}
	}
	return nil
}

// publicNetworks is [network] public_network_id, else the cloud's external networks (none when it has none),
// looked up each time (a floating IP is made rarely; a cached id could outlive its network).
func (d *Driver) publicNetworks(ctx context.Context) ([]string, error) {
	if d.cfg.PublicNetworkID != "" {
		return []string{d.cfg.PublicNetworkID}, nil
	}
	ext := true
	p, err := networks.List(d.network, external.ListOptsExt{ListOptsBuilder: networks.ListOpts{}, External: &ext}).AllPages(ctx)
	if err != nil {
		return nil, apiError("listing external networks", err)
	}
	var nets []struct {
		networks.Network
		external.NetworkExternalExt
	}
	if err := networks.ExtractNetworksInto(p, &nets); err != nil {
		return nil, apiError("listing external networks", err)
	}
	var ids []string
	for _, n := range nets {
		if n.External {
			ids = append(ids, n.ID)
		}
	}
	return ids, nil
}

// ensureFloatingIP gives the port a floating IP (public) or removes its floating IPs. The floating IP comes from
// [network] public_network_id, else from the first external network the port's subnet is routed to; a cloud
// without one (or without the L3 API) has no floating IPs for it: making the port public is then skipped with a
// log line.
func (d *Driver) ensureFloatingIP(ctx context.Context, portID string, public bool) error {
	p, err := floatingips.List(d.network, floatingips.ListOpts{PortID: portID}).AllPages(ctx)
	if notFound(err) {
		if public {
			d.log.WithField("port", portID).Warn("the cloud has no floating IPs (no L3 API): the instance is not made public")
		}
		return nil
	}
	if err != nil {
		return apiError("listing floating IPs", err)
	}
	fips, err := floatingips.ExtractFloatingIPs(p)
	if err != nil {
		return apiError("listing floating IPs", err)
	}
	if public {
		if len(fips) > 0 {
			return nil
		}
		nets, err := d.publicNetworks(ctx)
		if err != nil {
			return err
		}
		for _, net := range nets {
			_, err := floatingips.Create(ctx, d.network, floatingips.CreateOpts{FloatingNetworkID: net, PortID: portID}).Extract()
			if err == nil {
				return nil
			}
			if d.cfg.PublicNetworkID != "" || !gophercloud.ResponseCodeIs(err, http.StatusBadRequest) && !notFound(err) {
				return apiError("creating a floating IP", err)
			}
			// Not routed to the port's subnet (or gone meanwhile): try the next one.
			d.log.WithField("port", portID).WithField("network", net).Debug("no floating IP from this external network: " + apiMessage(err))
		}
		d.log.WithField("port", portID).Warn("no external network is routed to the instance's subnet: the instance is not made public")
		return nil
	}
	for _, f := range fips {
		if err := floatingips.Delete(ctx, d.network, f.ID).ExtractErr(); err != nil && !notFound(err) {
			return apiError("deleting floating IP "+f.ID, err)
		}
	}
	return nil
}

// cleanupNetwork removes the instance's ports (with their floating IPs) and its security group.
func (d *Driver) cleanupNetwork(ctx context.Context, iid string) error {
	ps, err := d.instancePorts(ctx, iid)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if err := d.deletePort(ctx, p.ID); err != nil {
			return err
		}
	}
	sg, err := d.findSecGroup(ctx, iid)
	if err != nil || sg == "" {
		return err
	}
	if err := groups.Delete(ctx, d.network, sg).ExtractErr(); err != nil && !notFound(err) {
		return apiError("deleting security group "+sg, err)
	}
	return nil
}

// UpdateAccess rewrites the instance's security group to exactly the access's CIDRs × ports and gives its user
// port a floating IP or takes it away.
func (d *Driver) UpdateAccess(ctx context.Context, id string, a compute.Access) error {
	iid, err := d.instanceOf(ctx, id)
	if err != nil {
		return err
	}
	if d.cfg.SecurityGroupsSupport {
		sg, err := d.findSecGroup(ctx, iid)
		if err != nil {
			return err
		}
		if sg == "" {
			var undo []func(context.Context) error
			if sg, err = d.ensureSecGroup(ctx, iid, &undo); err != nil {
				return err
			}
		}
		if err := d.setRules(ctx, sg, d.cidrs(a.AllowedCIDRs), a.Ports); err != nil {
			return err
		}
	}
	ps, err := d.instancePorts(ctx, iid)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.Description == portDescription(iid, false) {
			return d.ensureFloatingIP(ctx, p.ID, a.IsPublic)
		}
	}
	return nil
}

// secGroupMark is the description of an instance's security group once its server exists: it leads a
// DeleteServer of a server that is already gone to the instance (the group's name holds its id).
func secGroupMark(serverID string) string { return "Security group of trove server " + serverID }

// markSecGroup marks the instance's security group with its server's id; a failure only costs a later delete
// of a vanished server its way to the ports.
func (d *Driver) markSecGroup(ctx context.Context, iid, sg, serverID string) {
	if sg == "" {
		return
	}
	desc := secGroupMark(serverID)
	if _, err := groups.Update(ctx, d.network, sg, groups.UpdateOpts{Description: &desc}).Extract(); err != nil {
		d.log.WithError(err).WithField("instance", iid).Warn("marking the security group with the server's id")
	}
}

// instanceOfSecGroup is the instance whose security group is marked with the server's id ("" for none).
func (d *Driver) instanceOfSecGroup(ctx context.Context, serverID string) (string, error) {
	if !d.cfg.SecurityGroupsSupport {
		return "", nil
	}
	p, err := groups.List(d.network, groups.ListOpts{Description: secGroupMark(serverID)}).AllPages(ctx)
	if err != nil {
		return "", apiError("listing security groups", err)
	}
	gs, err := groups.ExtractGroups(p)
	if err != nil {
		return "", apiError("listing security groups", err)
	}
	prefix := d.cfg.SecurityGroupNamePrefix + "-"
	for _, g := range gs {
		if g.Description == secGroupMark(serverID) && strings.HasPrefix(g.Name, prefix) {
			return strings.TrimPrefix(g.Name, prefix), nil
		}
	}
	return "", nil
}
