package datastore

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Layout is the data directory's structure: <root>/data (the datastore's files), <root>/run (socket, pid),
// <root>/log (server log) and <root>/guest (agent state: prepare marker, admin credentials, 0700).
type Layout struct{ Root string }

// Data is the datastore's data directory.
func (l Layout) Data() string { return filepath.Join(l.Root, "data") }

// Run holds the socket and pid file.
func (l Layout) Run() string { return filepath.Join(l.Root, "run") }

// Log holds the server log.
func (l Layout) Log() string { return filepath.Join(l.Root, "log") }

// State holds the agent's own files.
func (l Layout) State() string { return filepath.Join(l.Root, "guest") }

// Make creates the directories; run, log and data are given to cred (the service user). The root is made
// traversable (0711) so a service user can reach its directories.
func (l Layout) Make(cred *syscall.Credential) error {
	if err := os.MkdirAll(l.Root, 0o711); err != nil {
		return err
	}
	if err := os.Chmod(l.Root, 0o711); err != nil {
		return err
	}
	if err := os.MkdirAll(l.State(), 0o700); err != nil {
		return err
	}
	for _, d := range []string{l.Data(), l.Run(), l.Log()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if cred != nil {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return err
			}
		}
	}
	return nil
}

// GeneratePassword returns a random password of n characters from [A-Za-z0-9] (crypto/rand, unbiased).
func GeneratePassword(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, 0, n)
	buf := make([]byte, 64)
	for len(out) < n {
		_, _ = rand.Read(buf)
		for _, b := range buf {
			if int(b) < 256-256%len(alphabet) && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// Secret reads a secret file written by WriteSecret.
func Secret(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}

// KeptSecret is the secret at path, made (GeneratePassword(36)) and written there when there is none.
func KeptSecret(path string) (string, error) {
	if pw, err := Secret(path); err == nil {
		return pw, nil
	}
	pw := GeneratePassword(36)
	return pw, WriteSecret(path, pw)
}

// WriteSecret writes a secret with mode 0600, atomically.
func WriteSecret(path, value string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(value+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// WaitFor polls ok every interval until it returns true, the process dies, or timeout passes.
func WaitFor(p *Process, timeout, interval time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if ok() {
			return true
		}
		if p.State() != Alive || time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}
