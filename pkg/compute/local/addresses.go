package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/trove-go/trove/pkg/compute"
)

// addrCache keeps the server → addresses map of state.json in memory for ServerAddresses (the API's instance
// lists). It is keyed by the file's identity (inode, size, mtime and ctime in ns): each call costs one stat, and
// the file is read and parsed again only after it changed. Every write of state.json is a rename of a new file,
// so readers need no flock: they see either the old or the new file whole.
type addrCache struct {
	mu    sync.Mutex
	key   fileKey
	addrs map[string][]compute.Address // read-only once stored; shared by callers
}

type fileKey struct {
	ino, size, mtime, ctime int64
	exists                  bool
}

func keyOf(fi os.FileInfo) fileKey {
	k := fileKey{size: fi.Size(), mtime: fi.ModTime().UnixNano(), exists: true}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.ino, k.ctime = int64(st.Ino), st.Ctim.Nano()
	}
	return k
}

// ServerAddresses reports the addresses of the servers among ids that exist (one loopback IPv4 address each, as
// GetServer). The returned slices are shared: callers must not modify them.
func (d *Driver) ServerAddresses(_ context.Context, ids []string) (map[string][]compute.Address, error) {
	all, err := d.addressSnapshot()
	if err != nil {
		return nil, err
	}
	out := make(map[string][]compute.Address, len(ids))
	for _, id := range ids {
		if a, ok := all[id]; ok {
			out[id] = a
		}
	}
	return out, nil
}

// addressSnapshot returns the cached map, reloading it when state.json's identity changed.
func (d *Driver) addressSnapshot() (map[string][]compute.Address, error) {
	path := filepath.Join(d.cfg.StateDir, "state.json")
	var key fileKey
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("local compute state: %w", err)
	default:
		key = keyOf(fi)
	}
	c := &d.addrs
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.addrs != nil && c.key == key {
		return c.addrs, nil
	}
	if !key.exists {
		c.key, c.addrs = key, map[string][]compute.Address{}
		return c.addrs, nil
	}
	// Key and content come from the same open file, so a rename in between cannot pair old key and new bytes.
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading local compute state: %w", err)
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading local compute state: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading local compute state: %w", err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	m := make(map[string][]compute.Address, len(s.Servers))
	for id, srv := range s.Servers {
		if a := s.Addresses[id]; a != "" {
			m[id] = []compute.Address{{Network: "local", Addr: a, Version: 4, Public: srv.Public}}
		}
	}
	c.key, c.addrs = keyOf(fi), m
	return m, nil
}
