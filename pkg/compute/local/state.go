package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
)

// state is everything the driver must remember across taskmanager restarts. It lives in <state_dir>/state.json
// and is changed only under an exclusive flock on <state_dir>/state.lock, so several processes may share it.
type state struct {
	Addresses map[string]string `json:"addresses"` // instance id → loopback address
	Servers   map[string]server `json:"servers"`   // server id (= instance id) → server
	Volumes   map[string]volume `json:"volumes"`   // volume id → volume
}

type server struct {
	Name     string `json:"name"`
	ImageID  string `json:"image_id"`
	BinDir   string `json:"server_bin_dir"`
	VolumeID string `json:"volume_id,omitempty"`
	FlavorID string `json:"flavor_id,omitempty"`
	RAMMB    int    `json:"ram_mb,omitempty"`  // the memory limit of the instance's processes (isolated)
	Project  string `json:"project,omitempty"` // the instance's project: its backup directory is mounted (isolated)
	// Access (UpdateAccess): a public address, and who may reach Ports (none: everyone).
	Public       bool     `json:"public,omitempty"`
	AllowedCIDRs []string `json:"allowed_cidrs,omitempty"`
	Ports        []int    `json:"ports,omitempty"`
}

type volume struct {
	Name       string `json:"name"`
	SizeGB     int    `json:"size_gb"`
	Status     string `json:"status"`
	InstanceID string `json:"instance_id"`
}

// update runs fn on the current state under the lock and saves it if fn succeeds.
func (d *Driver) update(fn func(s *state) error) error {
	return d.withState(true, fn)
}

// read runs fn on the current state under the lock without saving.
func (d *Driver) read(fn func(s *state) error) error {
	return d.withState(false, fn)
}

func (d *Driver) withState(save bool, fn func(s *state) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := os.MkdirAll(d.cfg.StateDir, 0o711); err != nil {
		return fmt.Errorf("local compute state dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(d.cfg.StateDir, "state.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("local compute state lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("locking local compute state: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it anyway

	path := filepath.Join(d.cfg.StateDir, "state.json")
	s := state{}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("reading local compute state: %w", err)
	default:
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("parsing %s: %w", path, err)
		}
	}
	if s.Addresses == nil {
		s.Addresses = map[string]string{}
	}
	if s.Servers == nil {
		s.Servers = map[string]server{}
	}
	if s.Volumes == nil {
		s.Volumes = map[string]volume{}
	}
	if err := fn(&s); err != nil {
		return err
	}
	if !save {
		return nil
	}
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return fmt.Errorf("writing local compute state: %w", err)
	}
	return os.Rename(tmp, path)
}

// allocate returns the instance's address, taking the lowest free one of the pool if it has none. The pool's
// first (network) and last (broadcast) addresses are never handed out.
func (s *state) allocate(pool netip.Prefix, instanceID string) (string, error) {
	if a, ok := s.Addresses[instanceID]; ok {
		return a, nil
	}
	used := make(map[string]bool, len(s.Addresses))
	for _, a := range s.Addresses {
		used[a] = true
	}
	pool = pool.Masked()
	for a := pool.Addr().Next(); a.IsValid() && pool.Contains(a); a = a.Next() {
		if !pool.Contains(a.Next()) { // last address of the pool
			break
		}
		if !used[a.String()] {
			s.Addresses[instanceID] = a.String()
			return a.String(), nil
		}
	}
	return "", fmt.Errorf("local address pool %s is exhausted (%d in use)", pool, len(s.Addresses))
}
