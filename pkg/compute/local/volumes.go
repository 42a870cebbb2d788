package local

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/google/uuid"

	"github.com/trove-go/trove/pkg/compute"
)

// CreateVolume records a volume of the instance; its storage is <instance dir>/data, created at once. The size
// is a quota the guest enforces.
func (d *Driver) CreateVolume(_ context.Context, spec compute.VolumeSpec) (compute.Volume, error) {
	if err := checkID(spec.InstanceID); err != nil {
		return compute.Volume{}, fmt.Errorf("local volumes belong to an instance: %w", err)
	}
	if spec.SizeGB <= 0 {
		return compute.Volume{}, fmt.Errorf("volume size must be positive, got %d", spec.SizeGB)
	}
	if err := d.makeDataDir(spec.InstanceID); err != nil {
		return compute.Volume{}, err
	}
	v := volume{Name: spec.Name, SizeGB: spec.SizeGB, Status: compute.VolumeAvailable, InstanceID: spec.InstanceID}
	id := uuid.NewString()
	err := d.update(func(s *state) error {
		// One volume per instance: a retried create returns the existing one.
		for vid, old := range s.Volumes {
			if old.InstanceID == spec.InstanceID {
				id, v = vid, old
				return nil
			}
		}
		s.Volumes[id] = v
		return nil
	})
	if err != nil {
		return compute.Volume{}, err
	}
	return compute.Volume{ID: id, Name: v.Name, SizeGB: v.SizeGB, Status: v.Status}, nil
}

// GetVolume returns a volume.
func (d *Driver) GetVolume(_ context.Context, id string) (compute.Volume, error) {
	var out compute.Volume
	err := d.read(func(s *state) error {
		v, ok := s.Volumes[id]
		if !ok {
			return fmt.Errorf("volume %s: %w", id, compute.ErrNotFound)
		}
		out = compute.Volume{ID: id, Name: v.Name, SizeGB: v.SizeGB, Status: v.Status}
		return nil
	})
	return out, err
}

// ExtendVolume grows a volume (online) and updates the guest's recorded size.
func (d *Driver) ExtendVolume(_ context.Context, id string, newSizeGB int) error {
	var inst string
	err := d.update(func(s *state) error {
		v, ok := s.Volumes[id]
		if !ok {
			return fmt.Errorf("volume %s: %w", id, compute.ErrNotFound)
		}
		if newSizeGB < v.SizeGB {
			return fmt.Errorf("volume %s: cannot shrink from %d to %d GB", id, v.SizeGB, newSizeGB)
		}
		v.SizeGB = newSizeGB
		s.Volumes[id] = v
		inst = v.InstanceID
		return nil
	})
	if err != nil {
		return err
	}
	return d.setLocal(inst, "volume_size_gb", strconv.Itoa(newSizeGB))
}

// DeleteVolume removes the volume and its directory. It refuses while a server still uses it; deleting a
// missing volume succeeds.
func (d *Driver) DeleteVolume(_ context.Context, id string) error {
	var inst string
	err := d.update(func(s *state) error {
		v, ok := s.Volumes[id]
		if !ok {
			return nil
		}
		if srv, used := s.Servers[v.InstanceID]; used && srv.VolumeID == id {
			return fmt.Errorf("volume %s is in use by server %s", id, v.InstanceID)
		}
		inst = v.InstanceID
		delete(s.Volumes, id)
		return nil
	})
	if err != nil || inst == "" {
		return err
	}
	if err := os.RemoveAll(d.dataDir(inst)); err != nil {
		return err
	}
	d.removeIfEmpty(d.instanceDir(inst))
	return nil
}
