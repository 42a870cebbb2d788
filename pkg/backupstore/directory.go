package backupstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// directoryStore keeps objects as files (mode 0644) directly under root. A Put writes a hidden temporary file, fsyncs it and
// links it under its name only when complete (never replacing an object), so no partial object is ever visible.
type directoryStore struct {
	root string
}

func newDirectory(cfg DirectoryConfig) (Store, error) {
	if err := os.MkdirAll(cfg.Root, 0o700); err != nil {
		return nil, fmt.Errorf("backupstore: [backup_directory] root %s: %w — create it, writable by this service", cfg.Root, err)
	}
	root, err := filepath.EvalSymlinks(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("backupstore: [backup_directory] root %s: %w", cfg.Root, err)
	}
	return &directoryStore{root: root}, nil
}

func (d *directoryStore) Put(ctx context.Context, name string, r io.Reader) (Object, error) {
	if err := checkName(name); err != nil {
		return Object{}, err
	}
	final := filepath.Join(d.root, name)
	if _, err := os.Lstat(final); err == nil {
		return Object{}, fmt.Errorf("backupstore: %s already exists: choose a new object name (Put never replaces an object)", fileURL(final))
	}
	f, err := os.CreateTemp(d.root, "."+name+".partial-*")
	if err != nil {
		return Object{}, fmt.Errorf("backupstore: directory %s: %w — check that it exists and is writable", d.root, err)
	}
	tmp := f.Name()
	ok := false
	// Readable by whoever may enter the directory: its permissions are the access control (the local driver
	// gives each project a directory of its own, which every instance of the project restores from).
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(tmp)
		return Object{}, fmt.Errorf("backupstore: chmod %s: %w", tmp, err)
	}
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	c := newCounter()
	if _, err := io.Copy(f, io.TeeReader(ctxReader{ctx, r}, c)); err != nil {
		return Object{}, fmt.Errorf("backupstore: writing %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return Object{}, fmt.Errorf("backupstore: fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return Object{}, fmt.Errorf("backupstore: closing %s: %w", tmp, err)
	}
	// link fails when name exists: a concurrent Put of the same name never replaces a finished object.
	if err := os.Link(tmp, final); err != nil {
		return Object{}, fmt.Errorf("backupstore: publishing %s: %w", final, err)
	}
	ok = true
	os.Remove(tmp)
	if err := syncDir(d.root); err != nil {
		return Object{}, err
	}
	sum := c.sum()
	return Object{Location: fileURL(final), Size: c.n, Checksum: sum, MD5: sum}, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("backupstore: fsync %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("backupstore: fsync %s: %w", dir, err)
	}
	return nil
}

func fileURL(path string) string { return (&url.URL{Scheme: "file", Path: path}).String() }

// path resolves a file:// location to a file directly under root; anything else (another directory, .., a
// symlink leading out, a temporary file) is refused.
func (d *directoryStore) path(location string) (string, error) {
	u, err := url.Parse(location)
	if err != nil || u.Scheme != "file" || (u.Host != "" && u.Host != "localhost") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("backupstore: location %q is not a file:///… URL of the directory store", location)
	}
	p := u.Path
	if !filepath.IsAbs(p) || filepath.Clean(p) != p || strings.Contains(p, "/../") {
		return "", fmt.Errorf("backupstore: location %q is not a clean absolute path", location)
	}
	dir, name := filepath.Split(p)
	if filepath.Clean(dir) != d.root {
		if real, err := filepath.EvalSymlinks(filepath.Clean(dir)); err != nil || real != d.root {
			return "", fmt.Errorf("backupstore: location %q is outside the backup directory %s: refused", location, d.root)
		}
	}
	if err := checkName(name); err != nil {
		return "", fmt.Errorf("backupstore: location %q: %w", location, err)
	}
	return filepath.Join(d.root, name), nil
}

func (d *directoryStore) Open(ctx context.Context, location string) (io.ReadCloser, error) {
	p, err := d.path(location)
	if err != nil {
		return nil, err
	}
	// O_NOFOLLOW: a symlink planted under root cannot lead a restore elsewhere.
	f, err := os.OpenFile(p, os.O_RDONLY|noFollow, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, noObject{fmt.Sprintf("backupstore: no object at %s (deleted, or never finished)", location)}
	}
	if err != nil {
		return nil, fmt.Errorf("backupstore: opening %s: %w", location, err)
	}
	return f, nil
}

func (d *directoryStore) Delete(ctx context.Context, location string) error {
	p, err := d.path(location)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backupstore: deleting %s: %w", location, err)
	}
	return syncDir(d.root)
}
