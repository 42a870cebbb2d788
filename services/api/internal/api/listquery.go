package api

import (
	"context"

	"github.com/trove-go/trove/pkg/catalog"
)

// listPage reads one page of a tenant's live instances with their guest statuses and running-backup flags
// (catalog.ListInstancesWithStatus: one query, ORDER BY id, id > marker) through the opt-in list cache, and
// resolves each instance's datastore version.
func (a *API) listPage(ctx context.Context, tenant string, includeClustered bool, limit int, marker string) ([]instanceInfo, string, error) {
	var rows []catalog.InstanceListEntry
	var next string
	var err error
	if c := a.listCache; c != nil {
		k := listKey{project: tenant, clustered: includeClustered, marker: marker, limit: limit}
		e, ok, gen := c.get(k)
		if ok {
			rows, next = e.rows, e.next
		} else if rows, next, err = a.cat.ListInstancesWithStatus(ctx, tenant, includeClustered, limit, marker); err == nil {
			c.put(k, gen, listEntry{rows: rows, next: next})
		}
	} else {
		rows, next, err = a.cat.ListInstancesWithStatus(ctx, tenant, includeClustered, limit, marker)
	}
	if err != nil {
		return nil, "", err
	}
	snap, err := a.ds.get(ctx)
	if err != nil {
		return nil, "", err
	}
	// Replicas are read fresh (not cached with the page): a page's primaries, whichever page their replicas are on.
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	replicas, err := a.cat.Replicas(ctx, tenant, ids)
	if err != nil {
		return nil, "", err
	}
	out := make([]instanceInfo, len(rows))
	for i := range rows {
		r := &rows[i] // shared with the list cache: read only
		in := instanceInfo{row: &r.Instance, svc: r.Status, backup: r.BackupRunning, keySet: r.KeySet, replicas: replicas[r.ID]}
		// Most instances of a page share a version: resolve each version once per page.
		if prev := sameVersion(out[:i], r.DatastoreVersionID); prev != nil {
			in.version, in.dsName = prev.version, prev.dsName
		} else {
			a.attachVersion(ctx, snap, &in)
		}
		out[i] = in
	}
	return out, next, nil
}

// sameVersion is one of the last few instances of the page with the given datastore version resolved, or nil.
func sameVersion(done []instanceInfo, versionID string) *instanceInfo {
	for j := len(done) - 1; j >= max(0, len(done)-8); j-- {
		if in := &done[j]; in.version != nil && in.row.DatastoreVersionID == versionID {
			return in
		}
	}
	return nil
}
