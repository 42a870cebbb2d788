package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// File is one write_files entry of a cloud-config document, decoded: what cloud-init would write on the machine.
type File struct {
	Path    string      // absolute path on the machine, cleaned
	Content []byte      // after decoding (b64, gzip)
	Perm    os.FileMode // permissions (cloud-init's default 0644)
	Owner   string      // as given ("root:root" when absent); informational, see Layout
	Append  bool
}

// cloudConfig is the part of a #cloud-config document the emulator acts on.
type cloudConfig struct {
	WriteFiles []writeFile `yaml:"write_files"`
}

type writeFile struct {
	Path        string    `yaml:"path"`
	Content     string    `yaml:"content"`
	Encoding    string    `yaml:"encoding"`
	Permissions yaml.Node `yaml:"permissions"`
	Owner       string    `yaml:"owner"`
	Append      bool      `yaml:"append"`
}

// ParseCloudConfig decodes a #cloud-config user_data document into the files it writes. Any other kind of
// user_data (a script, a MIME multipart) is an error: the emulator only plays cloud-init's write_files.
func ParseCloudConfig(userData []byte) ([]File, error) {
	first, _, _ := bytes.Cut(userData, []byte("\n"))
	if strings.TrimSpace(string(first)) != "#cloud-config" {
		return nil, errors.New("user_data is not a #cloud-config document")
	}
	var doc cloudConfig
	if err := yaml.Unmarshal(userData, &doc); err != nil {
		return nil, fmt.Errorf("user_data: %w", err)
	}
	out := make([]File, 0, len(doc.WriteFiles))
	for i, w := range doc.WriteFiles {
		f, err := w.decode()
		if err != nil {
			return nil, fmt.Errorf("write_files[%d] (%s): %w", i, w.Path, err)
		}
		out = append(out, f)
	}
	return out, nil
}

func (w writeFile) decode() (File, error) {
	clean := path.Clean(w.Path)
	if !path.IsAbs(w.Path) || clean != w.Path || strings.Contains(w.Path, "..") || clean == "/" {
		return File{}, fmt.Errorf("path %q is not a clean absolute file path", w.Path)
	}
	content, err := decodeContent(w.Content, w.Encoding)
	if err != nil {
		return File{}, err
	}
	perm, err := decodePerms(w.Permissions)
	if err != nil {
		return File{}, err
	}
	owner := w.Owner
	if owner == "" {
		owner = "root:root"
	}
	return File{Path: clean, Content: content, Perm: perm, Owner: owner, Append: w.Append}, nil
}

// decodeContent applies cloud-init's encodings: b64/base64, gz/gzip, their combinations, text/plain.
func decodeContent(content, encoding string) ([]byte, error) {
	var b64, gz bool
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "text/plain":
	case "b64", "base64":
		b64 = true
	case "gz", "gzip":
		gz = true
	case "gz+base64", "gzip+base64", "gz+b64", "gzip+b64":
		b64, gz = true, true
	default:
		return nil, fmt.Errorf("unknown encoding %q", encoding)
	}
	data := []byte(content)
	if b64 {
		d, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(content), ""))
		if err != nil {
			return nil, fmt.Errorf("base64 content: %w", err)
		}
		data = d
	}
	if gz {
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gzip content: %w", err)
		}
		if data, err = io.ReadAll(r); err != nil {
			return nil, fmt.Errorf("gzip content: %w", err)
		}
	}
	return data, nil
}

// decodePerms follows cloud-init's decode_perms: a number written in decimal is taken as is, anything else (a
// quoted '0600', an unquoted 0600 that YAML 1.1 reads as octal, 0o600) as octal. Absent → 0644.
func decodePerms(n yaml.Node) (os.FileMode, error) {
	if n.Kind == 0 || n.Tag == "!!null" {
		return 0o644, nil
	}
	s := strings.TrimSpace(n.Value)
	var v uint64
	var err error
	if n.Tag == "!!int" && !strings.HasPrefix(s, "0") {
		v, err = strconv.ParseUint(s, 10, 32)
	} else {
		s = strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
		v, err = strconv.ParseUint(s, 8, 32)
	}
	if err != nil || v > 0o7777 {
		return 0, fmt.Errorf("permissions %q are not a file mode", n.Value)
	}
	return os.FileMode(v) & os.ModePerm, nil
}

// Layout writes files under root (the machine's "/") with their permissions, byte for byte. Directories it
// creates are 0755 (as cloud-init's). Every file and directory it writes is chowned to uid:gid when uid >= 0:
// the emulated machine's root is the host's `trove` user, which runs the guest.
func Layout(root string, files []File, uid, gid int) error {
	for _, f := range files {
		target := filepath.Join(root, filepath.FromSlash(f.Path))
		if err := mkdirAllOwned(root, filepath.Dir(target), uid, gid); err != nil {
			return err
		}
		flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if f.Append {
			flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		}
		fh, err := os.OpenFile(target, flags, f.Perm)
		if err != nil {
			return err
		}
		_, werr := fh.Write(f.Content)
		if cerr := fh.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("writing %s: %w", target, werr)
		}
		// O_CREATE applies the umask and leaves an existing file's mode: set it exactly.
		if err := os.Chmod(target, f.Perm); err != nil {
			return err
		}
		if uid >= 0 {
			if err := os.Lchown(target, uid, gid); err != nil {
				return err
			}
		}
	}
	return nil
}

// mkdirAllOwned creates dir and its missing parents below root (0755) and chowns those it created.
func mkdirAllOwned(root, dir string, uid, gid int) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("%s is not below %s", dir, root)
	}
	cur := root
	for _, part := range append([]string{""}, strings.Split(rel, string(filepath.Separator))...) {
		if part != "" && part != "." {
			cur = filepath.Join(cur, part)
		}
		if _, err := os.Stat(cur); err == nil {
			continue
		}
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		if uid >= 0 {
			if err := os.Lchown(cur, uid, gid); err != nil {
				return err
			}
		}
	}
	return nil
}
