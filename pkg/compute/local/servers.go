package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/trove-go/trove/pkg/compute"
)

// CreateServer writes the instance's files, allocates its loopback address and starts its guest agent. The
// server id is the instance id. Retrying after a partial failure is safe.
func (d *Driver) CreateServer(_ context.Context, spec compute.ServerSpec) (compute.Server, error) {
	id := spec.InstanceID
	if err := checkID(id); err != nil {
		return compute.Server{}, err
	}
	img, err := d.ResolveImage(context.Background(), spec.ImageID)
	if err != nil {
		return compute.Server{}, err
	}
	var addr string
	var vol volume
	err = d.update(func(s *state) error {
		if spec.VolumeID != "" {
			v, ok := s.Volumes[spec.VolumeID]
			if !ok {
				return fmt.Errorf("volume %s: %w", spec.VolumeID, compute.ErrNotFound)
			}
			if v.InstanceID != id {
				return fmt.Errorf("volume %s belongs to instance %s, not %s", spec.VolumeID, v.InstanceID, id)
			}
			v.Status = compute.VolumeInUse
			s.Volumes[spec.VolumeID] = v
			vol = v
		}
		a, err := s.allocate(d.cfg.AddressPool, id)
		if err != nil {
			return err
		}
		addr = a
		srv := s.Servers[id] // a retried create keeps what an access update recorded
		srv.Name, srv.ImageID, srv.BinDir, srv.VolumeID = spec.Name, img.ID, img.ServerBinDir, spec.VolumeID
		srv.FlavorID, srv.RAMMB = spec.Flavor.ID, spec.Flavor.RAM
		srv.Project = spec.Metadata["trove_project_id"]
		s.Servers[id] = srv
		return nil
	})
	if err != nil {
		return compute.Server{}, err
	}
	if err := d.writeFiles(id, spec.UserFiles, addr, vol.SizeGB, img.ServerBinDir); err != nil {
		return compute.Server{}, err
	}
	if !d.guestRunning(id) {
		if err := d.startGuest(id); err != nil {
			return compute.Server{}, err
		}
	}
	return d.GetServer(context.Background(), id)
}

// writeFiles writes the injected files under the instance directory and appends the [local] section the local
// guest needs to trove-guestagent.conf.
func (d *Driver) writeFiles(id string, files map[string]string, addr string, sizeGB int, binDir string) error {
	dir := d.instanceDir(id)
	if err := d.makeDataDir(id); err != nil {
		return err
	}
	local := fmt.Sprintf("\n[local]\nbind_host = %s\ndata_dir = %s\nvolume_size_gb = %d\nserver_bin_dir = %s\n",
		addr, d.dataDir(id), sizeGB, binDir)
	all := map[string]string{compute.GuestConfigPath: ""}
	for p, c := range files {
		all[p] = c
	}
	for p, content := range all {
		clean := path.Clean("/" + p)
		if clean != "/"+strings.TrimPrefix(p, "/") || strings.Contains(p, "..") {
			return fmt.Errorf("injected file path %q is not a clean absolute path", p)
		}
		if clean == compute.GuestConfigPath {
			content = strings.TrimRight(content, "\n") + "\n" + local
		}
		target := filepath.Join(dir, filepath.FromSlash(clean))
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return err
		}
		// A file the isolated guest rewrote (guest_info.conf after a key rotation) is its user's: replace it.
		if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		// Guest files carry the instance key: readable by the owner only.
		if err := os.WriteFile(target, []byte(content), 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", target, err)
		}
	}
	return nil
}

// GetServer reports the server; ACTIVE while the guest agent process lives, SHUTOFF otherwise.
func (d *Driver) GetServer(_ context.Context, id string) (compute.Server, error) {
	var srv server
	var addr string
	err := d.read(func(s *state) error {
		v, ok := s.Servers[id]
		if !ok {
			return fmt.Errorf("server %s: %w", id, compute.ErrNotFound)
		}
		srv, addr = v, s.Addresses[id]
		return nil
	})
	if err != nil {
		return compute.Server{}, err
	}
	out := compute.Server{ID: id, Name: srv.Name, Status: compute.ServerShutoff, FlavorID: srv.FlavorID,
		Addresses: []compute.Address{{Network: "local", Addr: addr, Version: 4, Public: srv.Public}}}
	if d.guestRunning(id) {
		out.Status = compute.ServerActive
	} else {
		out.Fault = "the guest agent is not running; its log is " + filepath.Join(d.instanceDir(id), "guest.log")
	}
	return out, nil
}

// DeleteServer stops the guest (and its database server), releases the address and removes the instance's
// files except the volume directory. Deleting a missing server succeeds.
func (d *Driver) DeleteServer(_ context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if err := d.stopGuest(id); err != nil {
		return err
	}
	// The instance's user goes whether or not the server was recorded (a create that failed after the user
	// was made); its files are handed back first, so the volume directory can be removed later.
	if d.isolated() {
		if err := d.destroyUser(id); err != nil {
			return err
		}
	}
	var volID string
	err := d.update(func(s *state) error {
		volID = s.Servers[id].VolumeID
		if v, ok := s.Volumes[volID]; ok {
			v.Status = compute.VolumeAvailable
			s.Volumes[volID] = v
		}
		delete(s.Servers, id)
		delete(s.Addresses, id)
		return nil
	})
	if err != nil {
		return err
	}
	dir := d.instanceDir(id)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Name() == "data" && volID != "" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	d.removeIfEmpty(dir)
	d.log.WithField("instance_id", id).Info("local server deleted")
	return nil
}

// makeDataDir creates the instance's volume directory. The database server runs as its own user (mysql,
// postgres), so every directory from state_dir down to the volume is traversable (o+x, not readable); the
// configuration under etc/ stays owner-only.
func (d *Driver) makeDataDir(id string) error {
	for _, dir := range []string{d.cfg.StateDir, filepath.Join(d.cfg.StateDir, "instances"), d.instanceDir(id), d.dataDir(id)} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return err
		}
		st, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() {
			continue // an isolated instance's own volume directory (0700): the helper set it up
		}
		if mode := st.Mode().Perm(); mode&0o011 != 0o011 {
			if err := os.Chmod(dir, mode|0o011); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *Driver) removeIfEmpty(dir string) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) == 0 {
		_ = os.Remove(dir)
	}
}

// RebootServer stops and starts the guest agent (the guest restarts its database server).
func (d *Driver) RebootServer(ctx context.Context, id string) error {
	if _, err := d.GetServer(ctx, id); err != nil {
		return err
	}
	if err := d.stopGuest(id); err != nil {
		return err
	}
	return d.startGuest(id)
}

// RebuildServer switches the server to another image, rewrites the injected files and restarts the guest. The
// volume directory is kept.
func (d *Driver) RebuildServer(ctx context.Context, id, imageID string, userFiles map[string]string) error {
	img, err := d.ResolveImage(ctx, imageID)
	if err != nil {
		return err
	}
	var addr string
	var size int
	err = d.update(func(s *state) error {
		srv, ok := s.Servers[id]
		if !ok {
			return fmt.Errorf("server %s: %w", id, compute.ErrNotFound)
		}
		srv.ImageID, srv.BinDir = img.ID, img.ServerBinDir
		s.Servers[id] = srv
		addr, size = s.Addresses[id], s.Volumes[srv.VolumeID].SizeGB
		return nil
	})
	if err != nil {
		return err
	}
	if err := d.stopGuest(id); err != nil {
		return err
	}
	if err := d.writeFiles(id, userFiles, addr, size, img.ServerBinDir); err != nil {
		return err
	}
	return d.startGuest(id)
}

// setLocal rewrites one key of the [local] section of the instance's trove-guestagent.conf.
func (d *Driver) setLocal(id, key, value string) error {
	p := filepath.Join(d.instanceDir(id), filepath.FromSlash(compute.GuestConfigPath))
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	lines := strings.Split(string(b), "\n")
	inLocal := false
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			inLocal = t == "[local]"
		}
		if k, _, ok := strings.Cut(t, "="); inLocal && ok && strings.TrimSpace(k) == key {
			lines[i] = key + " = " + value
		}
	}
	return os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o600)
}

// SwitchImage points a running server at another image's binaries without restarting it (the local
// equivalent of Trove swapping the datastore container image): the guest's upgrade RPC then restarts the
// database server from them.
func (d *Driver) SwitchImage(ctx context.Context, id, imageID string) error {
	img, err := d.ResolveImage(ctx, imageID)
	if err != nil {
		return err
	}
	err = d.update(func(s *state) error {
		srv, ok := s.Servers[id]
		if !ok {
			return fmt.Errorf("server %s: %w", id, compute.ErrNotFound)
		}
		srv.ImageID, srv.BinDir = img.ID, img.ServerBinDir
		s.Servers[id] = srv
		return nil
	})
	if err != nil {
		return err
	}
	return d.setLocal(id, "server_bin_dir", img.ServerBinDir)
}

// StartStopped starts the guest agent of every recorded server whose guest is not running (after a host
// restart or `deploy/stop.sh --all`), as Nova's resume_guests_state_on_host_boot would. It returns the ids
// started; a guest that fails to start is logged and skipped.
func (d *Driver) StartStopped(_ context.Context) ([]string, error) {
	var ids []string
	if err := d.read(func(s *state) error {
		for id := range s.Servers {
			ids = append(ids, id)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if d.isolated() {
		known := make(map[string]bool, len(ids))
		for _, id := range ids {
			known[id] = true
		}
		d.reapOrphanUsers(known)
	}
	var started []string
	for _, id := range ids {
		if d.guestRunning(id) {
			continue
		}
		if err := d.startGuest(id); err != nil {
			d.log.WithField("instance_id", id).WithError(err).Error("restarting a stopped guest")
			continue
		}
		started = append(started, id)
	}
	return started, nil
}
