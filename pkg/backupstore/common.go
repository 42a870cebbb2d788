package backupstore

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"regexp"
	"time"
)

// validName: object names stay one plain path element, so locations parse back without ambiguity.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`)

func checkName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("backupstore: object name %q: use 1–255 characters of A-Z a-z 0-9 . _ - starting with a letter or digit (e.g. \"<backup id>.xbstream.gz\")", name)
	}
	return nil
}

// ErrNoObject is what Open returns (errors.Is) when the store has no object at the location, as opposed to a
// store that could not answer.
var ErrNoObject = errors.New("backupstore: no such object")

// noObject is a driver's own message for a missing object, matching ErrNoObject.
type noObject struct{ msg string }

func (e noObject) Error() string        { return e.msg }
func (e noObject) Is(target error) bool { return target == ErrNoObject }

// ctxReader fails reads once ctx is done, so a Put whose context ends stops reading at once.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// counter hashes and counts what passes through it (io.TeeReader's writer).
type counter struct {
	md5 hash.Hash
	n   int64
}

func newCounter() *counter { return &counter{md5: md5.New()} }

func (c *counter) Write(p []byte) (int, error) {
	c.md5.Write(p)
	c.n += int64(len(p))
	return len(p), nil
}

func (c *counter) sum() string { return hex.EncodeToString(c.md5.Sum(nil)) }

// httpClient: no overall timeout (objects stream for as long as they take), bounded connection set-up and wait
// for response headers.
func httpClient(insecure bool) *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        256 << 10,
	}
	if insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // swift_api_insecure / [backup_s3] insecure, the operator's choice
	}
	return &http.Client{Transport: tr}
}

// verifyingReader returns io.EOF only when what was read has the expected sum (sum is called at EOF); otherwise
// the last Read fails, so a restore never takes a corrupted object for a whole one.
type verifyingReader struct {
	body     io.ReadCloser
	write    func([]byte)
	check    func() error
	location string
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.body.Read(p)
	if n > 0 {
		v.write(p[:n])
	}
	if err == io.EOF {
		if cerr := v.check(); cerr != nil {
			return n, fmt.Errorf("backupstore: %s: %w", v.location, cerr)
		}
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.body.Close() }
