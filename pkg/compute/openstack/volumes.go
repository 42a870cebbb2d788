package openstack

import (
	"context"
	"errors"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/trove-go/trove/pkg/compute"
)

func toVolume(v volumes.Volume) compute.Volume {
	return compute.Volume{ID: v.ID, Name: v.Name, SizeGB: v.Size, Status: v.Status}
}

func (d *Driver) getVolume(ctx context.Context, id string) (volumes.Volume, error) {
	v, err := volumes.Get(ctx, d.volume, id).Extract()
	if err != nil {
		return volumes.Volume{}, apiError("volume "+id, err)
	}
	return *v, nil
}

// CreateVolume creates the instance's data volume (Trove's trove-<id>, cinder_volume_type when the spec names
// none) and waits (volume_time_out) until it is available; a retry finds the volume an earlier attempt made by
// its name. A volume that goes to error is deleted and the create fails for good.
func (d *Driver) CreateVolume(ctx context.Context, spec compute.VolumeSpec) (compute.Volume, error) {
	if spec.SizeGB <= 0 {
		return compute.Volume{}, permanentf("volume size %d GB is not positive", spec.SizeGB)
	}
	name := spec.Name
	if name == "" {
		name = "trove-" + spec.InstanceID
	}
	p, err := volumes.List(d.volume, volumes.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		return compute.Volume{}, apiError("listing volumes", err)
	}
	found, err := volumes.ExtractVolumes(p)
	if err != nil {
		return compute.Volume{}, apiError("listing volumes", err)
	}
	var v volumes.Volume
	for _, f := range found {
		if f.Name == name && f.Status != "error" && f.Status != "deleting" && (spec.InstanceID == "" || f.Metadata[instanceMetadata] == spec.InstanceID) {
			v = f
			break
		}
	}
	if v.ID == "" {
		opts := volumes.CreateOpts{Size: spec.SizeGB, Name: name, VolumeType: spec.Type,
			Description: "datastore volume for " + spec.InstanceID}
		if opts.VolumeType == "" {
			opts.VolumeType = d.cfg.VolumeType
		}
		if d.cfg.EnableVolumeAZ {
			opts.AvailabilityZone = spec.AZ
		}
		if spec.InstanceID != "" {
			opts.Metadata = map[string]string{instanceMetadata: spec.InstanceID}
		}
		c, err := volumes.Create(ctx, d.volume, opts, nil).Extract()
		if err != nil {
			return compute.Volume{}, apiError("creating the volume", err)
		}
		v = *c
	}
	err = d.poll(ctx, d.cfg.VolumeTimeout, "volume "+v.ID+" to be available", func() (bool, error) {
		got, err := d.getVolume(ctx, v.ID)
		if err != nil {
			return false, err
		}
		v = got
		switch v.Status {
		case compute.VolumeAvailable, compute.VolumeInUse:
			return true, nil
		case compute.VolumeError:
			return false, permanentf("volume %s went to error", v.ID)
		}
		return false, nil
	})
	if errors.Is(err, ErrPermanent) {
		if derr := d.DeleteVolume(context.WithoutCancel(ctx), v.ID); derr != nil {
			d.log.WithError(derr).WithField("volume", v.ID).Error("deleting a volume that went to error")
		}
	}
	if err != nil {
		return compute.Volume{}, err
	}
	return toVolume(v), nil
}

// GetVolume reads the volume.
func (d *Driver) GetVolume(ctx context.Context, id string) (compute.Volume, error) {
	v, err := d.getVolume(ctx, id)
	if err != nil {
		return compute.Volume{}, err
	}
	return toVolume(v), nil
}

// ExtendVolume grows the volume (attached ones too: volume API 3.42) and waits until Cinder shows the new size.
// A volume already that large succeeds.
func (d *Driver) ExtendVolume(ctx context.Context, id string, newSizeGB int) error {
	v, err := d.getVolume(ctx, id)
	if err != nil {
		return err
	}
	if v.Size < newSizeGB && v.Status != compute.VolumeExtending {
		if err := volumes.ExtendSize(ctx, d.volume, id, volumes.ExtendSizeOpts{NewSize: newSizeGB}).ExtractErr(); err != nil {
			return apiError(fmt.Sprintf("extending volume %s to %d GB", id, newSizeGB), err)
		}
	}
	return d.poll(ctx, d.cfg.VolumeTimeout, "volume "+id+" to be extended", func() (bool, error) {
		v, err := d.getVolume(ctx, id)
		if err != nil {
			return false, err
		}
		if v.Status == "error_extending" || v.Status == compute.VolumeError {
			return false, permanentf("extending volume %s to %d GB failed (status %s)", id, newSizeGB, v.Status)
		}
		return v.Size >= newSizeGB && (v.Status == compute.VolumeAvailable || v.Status == compute.VolumeInUse), nil
	})
}

// DeleteVolume detaches the volume from any server, deletes it and waits until Cinder no longer has it; a
// missing volume succeeds.
func (d *Driver) DeleteVolume(ctx context.Context, id string) error {
	v, err := d.getVolume(ctx, id)
	if errors.Is(err, compute.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(v.Attachments) > 0 {
		for _, a := range v.Attachments {
			if err := volumeattach.Delete(ctx, d.compute, a.ServerID, id).ExtractErr(); err != nil && !notFound(err) {
				return apiError(fmt.Sprintf("detaching volume %s from server %s", id, a.ServerID), err)
			}
		}
		err := d.poll(ctx, d.cfg.VolumeTimeout, "volume "+id+" to be detached", func() (bool, error) {
			v, err := d.getVolume(ctx, id)
			if errors.Is(err, compute.ErrNotFound) {
				return true, nil
			}
			return err == nil && len(v.Attachments) == 0 && v.Status != "detaching", err
		})
		if err != nil {
			return err
		}
	}
	if err := volumes.Delete(ctx, d.volume, id, nil).ExtractErr(); err != nil && !notFound(err) {
		return apiError("deleting volume "+id, err)
	}
	return d.poll(ctx, d.cfg.VolumeTimeout, "volume "+id+" to be deleted", func() (bool, error) {
		v, err := d.getVolume(ctx, id)
		if errors.Is(err, compute.ErrNotFound) {
			return true, nil
		}
		if err == nil && v.Status == "error_deleting" {
			return false, fmt.Errorf("volume %s could not be deleted (error_deleting)", id)
		}
		return false, err
	})
}

// ListVolumeTypes lists Cinder's volume types (compute.VolumeTypeLister).
func (d *Driver) ListVolumeTypes(ctx context.Context) ([]compute.VolumeType, error) {
	pages, err := volumetypes.List(d.volume, volumetypes.ListOpts{}).AllPages(ctx)
	if err != nil {
		return nil, apiError("listing volume types", err)
	}
	all, err := volumetypes.ExtractVolumeTypes(pages)
	if err != nil {
		return nil, err
	}
	out := make([]compute.VolumeType, len(all))
	for i, t := range all {
		out[i] = compute.VolumeType{ID: t.ID, Name: t.Name, Description: t.Description, IsPublic: t.IsPublic}
	}
	return out, nil
}
