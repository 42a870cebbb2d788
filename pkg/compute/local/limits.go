package local

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trove-go/trove/pkg/compute"
)

var (
	_ compute.Resizer          = (*Driver)(nil)
	_ compute.AccessController = (*Driver)(nil)
)

// ResizeServer records the server's new flavor and makes its RAM the memory limit of the instance's processes
// (the root helper's memlimit: a cgroup v1 memory limit). Without isolation the flavor is only recorded.
func (d *Driver) ResizeServer(_ context.Context, id string, flavor compute.Flavor) error {
	if err := checkID(id); err != nil {
		return err
	}
	err := d.update(func(s *state) error {
		srv, ok := s.Servers[id]
		if !ok {
			return fmt.Errorf("server %s: %w", id, compute.ErrNotFound)
		}
		srv.FlavorID, srv.RAMMB = flavor.ID, flavor.RAM
		s.Servers[id] = srv
		return nil
	})
	if err != nil {
		return err
	}
	if err := d.applyMemoryLimit(id, flavor.RAM); err != nil {
		return err
	}
	d.log.WithField("instance_id", id).WithField("flavor_id", flavor.ID).WithField("ram_mb", flavor.RAM).Info("local server resized")
	return nil
}

// UpdateAccess records whether the instance's address is public and restricts who reaches its database ports
// to AllowedCIDRs (the root helper's access: an iptables chain of the instance's own). Restricting needs
// isolation (the root helper).
func (d *Driver) UpdateAccess(_ context.Context, id string, a compute.Access) error {
	if err := checkID(id); err != nil {
		return err
	}
	cidrs := slices.Clone(a.AllowedCIDRs)
	slices.Sort(cidrs)
	cidrs = slices.Compact(cidrs)
	var addr string
	err := d.update(func(s *state) error {
		srv, ok := s.Servers[id]
		if !ok {
			return fmt.Errorf("server %s: %w", id, compute.ErrNotFound)
		}
		srv.Public, srv.AllowedCIDRs, srv.Ports = a.IsPublic, cidrs, slices.Clone(a.Ports)
		s.Servers[id] = srv
		addr = s.Addresses[id]
		return nil
	})
	if err != nil {
		return err
	}
	if err := d.applyAccess(id, addr, a.Ports, cidrs); err != nil {
		return err
	}
	d.log.WithField("instance_id", id).WithField("is_public", a.IsPublic).WithField("allowed_cidrs", cidrs).Info("local server access updated")
	return nil
}

func (d *Driver) applyMemoryLimit(id string, ramMB int) error {
	if !d.isolated() || ramMB <= 0 {
		return nil
	}
	_, err := d.helper(time.Minute, "memlimit", id, strconv.Itoa(max(ramMB, minMemoryMB)))
	return err
}

func (d *Driver) applyAccess(id, addr string, ports []int, cidrs []string) error {
	if !d.isolated() {
		if len(cidrs) > 0 {
			return fmt.Errorf("restricting access to %s needs [local] isolation (the root helper)", id)
		}
		return nil
	}
	if len(ports) == 0 || addr == "" {
		if len(cidrs) > 0 {
			return fmt.Errorf("restricting access to %s: no address or no database port known", id)
		}
		return nil
	}
	ps := make([]string, len(ports))
	for i, p := range ports {
		ps[i] = strconv.Itoa(p)
	}
	list := "-"
	if len(cidrs) > 0 {
		list = strings.Join(cidrs, ",")
	}
	_, err := d.helper(time.Minute, "access", id, addr, strings.Join(ps, ","), list)
	return err
}

// applyLimits puts the recorded memory limit and access rules in force again before a guest starts (both are
// gone after a host restart).
func (d *Driver) applyLimits(id string) error {
	var srv server
	var addr string
	if err := d.read(func(s *state) error { srv, addr = s.Servers[id], s.Addresses[id]; return nil }); err != nil {
		return err
	}
	if err := d.applyMemoryLimit(id, srv.RAMMB); err != nil {
		return err
	}
	if len(srv.AllowedCIDRs) > 0 {
		return d.applyAccess(id, addr, srv.Ports, srv.AllowedCIDRs)
	}
	return nil
}
