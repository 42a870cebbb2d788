package datastore

import (
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/trove-go/trove/pkg/guestapi"
)

// Volume is the local driver's stand-in for a Cinder volume: a directory whose disk usage (du) is measured
// against a size in GB. The limit is enforced by the guest (Over → status blocked, creations refused), not by
// the kernel.
type Volume struct {
	Dir string

	mu     sync.Mutex
	sizeGB float64
}

const gb = 1 << 30

// NewVolume returns the volume at dir limited to sizeGB (0 = unlimited).
func NewVolume(dir string, sizeGB float64) *Volume { return &Volume{Dir: dir, sizeGB: sizeGB} }

// SetSize changes the limit (resize_fs after a volume resize).
func (v *Volume) SetSize(sizeGB float64) {
	v.mu.Lock()
	v.sizeGB = sizeGB
	v.mu.Unlock()
}

// Size returns the limit in GB.
func (v *Volume) Size() float64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.sizeGB
}

// Used returns the bytes allocated under Dir (like du: blocks, not apparent sizes; hard links once).
func (v *Volume) Used() (int64, error) {
	var total int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(v.Dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() {
				return nil // a directory vanished or is unreadable: skip it, as du does
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			if st.Nlink > 1 && !d.IsDir() {
				if seen[st.Ino] {
					return nil
				}
				seen[st.Ino] = true
			}
			total += st.Blocks * 512
		}
		return nil
	})
	return total, err
}

// Over reports whether the usage reached the limit.
func (v *Volume) Over() (bool, error) {
	size := v.Size()
	if size <= 0 {
		return false, nil
	}
	used, err := v.Used()
	return float64(used) >= size*gb, err
}

// CheckRoom returns a KindOverQuota error when the volume is full.
func (v *Volume) CheckRoom() error {
	over, err := v.Over()
	if err != nil {
		return err
	}
	if over {
		return Errorf(KindOverQuota, "the data volume is full (%.2f GB); resize the volume first", v.Size())
	}
	return nil
}

// Stats renders get_filesystem_stats in Trove's shape (total/used in GB, free in bytes, 4 KiB blocks). With no
// limit the underlying filesystem's size is used.
func (v *Volume) Stats() (guestapi.FilesystemStats, error) {
	used, err := v.Used()
	if err != nil {
		return guestapi.FilesystemStats{}, err
	}
	const bs = 4096
	total := int64(v.Size() * gb)
	if total <= 0 {
		var sfs syscall.Statfs_t
		if err := syscall.Statfs(v.Dir, &sfs); err != nil {
			return guestapi.FilesystemStats{}, err
		}
		total = int64(sfs.Blocks) * sfs.Bsize
	}
	free := max(total-used, 0)
	return guestapi.FilesystemStats{
		BlockSize:    bs,
		TotalBlocks:  total / bs,
		FreeBlocks:   free / bs,
		AvailBlocks:  free / bs,
		Total:        round2(float64(total) / gb),
		Free:         free,
		Used:         round2(float64(used) / gb),
		MgrExtraInfo: map[string]any{},
	}, nil
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
