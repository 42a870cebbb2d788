package openstack

import (
	"context"
	"errors"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/trove-go/trove/pkg/compute"
)

func toFlavor(f flavors.Flavor) compute.Flavor {
	return compute.Flavor{ID: f.ID, Name: f.Name, RAM: f.RAM, VCPUs: f.VCPUs, Disk: f.Disk}
}

// ListFlavors lists Nova's flavors (public and, for the service user when it is admin, private ones).
func (d *Driver) ListFlavors(ctx context.Context) ([]compute.Flavor, error) {
	p, err := flavors.ListDetail(d.compute, flavors.ListOpts{AccessType: flavors.AllAccess}).AllPages(ctx)
	if err != nil {
		return nil, apiError("listing flavors", err)
	}
	fs, err := flavors.ExtractFlavors(p)
	if err != nil {
		return nil, apiError("listing flavors", err)
	}
	out := make([]compute.Flavor, 0, len(fs))
	for _, f := range fs {
		out = append(out, toFlavor(f))
	}
	return out, nil
}

// GetFlavor reads one flavor.
func (d *Driver) GetFlavor(ctx context.Context, id string) (compute.Flavor, error) {
	f, err := flavors.Get(ctx, d.compute, id).Extract()
	if err != nil {
		return compute.Flavor{}, apiError("flavor "+id, err)
	}
	return toFlavor(*f), nil
}

// ResolveImage reads a Glance image; a missing or deleted one is ErrNotFound.
func (d *Driver) ResolveImage(ctx context.Context, imageID string) (compute.Image, error) {
	img, err := images.Get(ctx, d.image, imageID).Extract()
	if err != nil {
		return compute.Image{}, apiError("image "+imageID, err)
	}
	if img.Status == images.ImageStatusDeleted || img.Status == images.ImageStatusPendingDelete || img.Status == images.ImageStatusKilled {
		return compute.Image{}, fmt.Errorf("image %s is %s: %w", imageID, img.Status, compute.ErrNotFound)
	}
	return compute.Image{ID: img.ID, Name: img.Name}, nil
}

// ImageByTags is the newest active image carrying every tag (Trove's datastore version image_tags); none is
// ErrNotFound.
func (d *Driver) ImageByTags(ctx context.Context, tags []string) (compute.Image, error) {
	if len(tags) == 0 {
		return compute.Image{}, errors.New("ImageByTags: no tags")
	}
	var imgs []images.Image
	err := images.List(d.image, images.ListOpts{Tags: tags, Status: images.ImageStatusActive,
		Sort: "created_at:desc", Limit: 1}).EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
		var err error
		imgs, err = images.ExtractImages(p)
		return false, err
	})
	if err != nil {
		return compute.Image{}, apiError("listing images", err)
	}
	if len(imgs) == 0 {
		return compute.Image{}, fmt.Errorf("no active image has the tags %v: %w", tags, compute.ErrNotFound)
	}
	return compute.Image{ID: imgs[0].ID, Name: imgs[0].Name}, nil
}

// The driver implements the whole contract.
var (
	_ compute.Driver           = (*Driver)(nil)
	_ compute.Resizer          = (*Driver)(nil)
	_ compute.AccessController = (*Driver)(nil)
	_ compute.NetworkChecker   = (*Driver)(nil)
)
