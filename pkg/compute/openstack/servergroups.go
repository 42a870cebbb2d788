package openstack

import (
	"context"
	"slices"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servergroups"
)

func (d *Driver) listServerGroups(ctx context.Context) ([]servergroups.ServerGroup, error) {
	p, err := servergroups.List(d.compute, servergroups.ListOpts{}).AllPages(ctx)
	if err != nil {
		return nil, apiError("listing server groups", err)
	}
	gs, err := servergroups.ExtractServerGroups(p)
	if err != nil {
		return nil, apiError("listing server groups", err)
	}
	return gs, nil
}

// ensureServerGroup is the id of the server group named name (Trove's locality: a replica joins its source's
// group), created with the locality's policy when missing.
func (d *Driver) ensureServerGroup(ctx context.Context, name, policy string, undo *[]func(context.Context) error) (string, error) {
	if policy != "affinity" && policy != "anti-affinity" {
		return "", permanentf("locality %q is not affinity or anti-affinity", policy)
	}
	gs, err := d.listServerGroups(ctx)
	if err != nil {
		return "", err
	}
	for _, g := range gs {
		if g.Name == name {
			return g.ID, nil
		}
	}
	g, err := servergroups.Create(ctx, d.compute, servergroups.CreateOpts{Name: name, Policies: []string{policy}}).Extract()
	if err != nil {
		return "", apiError("creating server group "+name, err)
	}
	*undo = append(*undo, func(ctx context.Context) error { return d.deleteServerGroupIfEmpty(ctx, g.ID) })
	return g.ID, nil
}

// serverGroupsOf is the ids of the server groups the server is a member of.
func (d *Driver) serverGroupsOf(ctx context.Context, serverID string) ([]string, error) {
	gs, err := d.listServerGroups(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, g := range gs {
		if slices.Contains(g.Members, serverID) {
			ids = append(ids, g.ID)
		}
	}
	return ids, nil
}

// deleteServerGroupIfEmpty deletes the group once it has no member; a missing group is fine.
func (d *Driver) deleteServerGroupIfEmpty(ctx context.Context, id string) error {
	g, err := servergroups.Get(ctx, d.compute, id).Extract()
	if notFound(err) {
		return nil
	}
	if err != nil {
		return apiError("server group "+id, err)
	}
	if len(g.Members) > 0 {
		return nil
	}
	if err := servergroups.Delete(ctx, d.compute, id).ExtractErr(); err != nil && !notFound(err) {
		return apiError("deleting server group "+id, err)
	}
	return nil
}
