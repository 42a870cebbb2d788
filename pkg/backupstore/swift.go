package backupstore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
)

// swiftStore stores each object as a static large object (SLO): segments of at most SegmentSize bytes in
// "<container>_segments" under "<name>/<upload id>/%08d", then the manifest under name in the container. The
// manifest appears only after every segment is stored and verified, so a failed Put leaves nothing under name.
// Checksum is the SLO's ETag: the MD5 of the segments' MD5s concatenated (what Trove's guest computes and checks on
// restore). An empty object is stored as one plain empty object.
type swiftStore struct {
	cfg        SwiftConfig
	storageURL *url.URL
	provider   *gophercloud.ProviderClient
	client     *gophercloud.ServiceClient

	mu       sync.Mutex
	ensured  bool
	segments string
}

func newSwift(cfg SwiftConfig, creds Credentials) (Store, error) {
	u, err := url.Parse(strings.TrimRight(creds.StorageURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("backupstore: swift needs the tenant's object-store endpoint (http(s)://host/v1/AUTH_<project>) from the Keystone catalog as Credentials.StorageURL")
	}
	if creds.Token == "" {
		return nil, errors.New("backupstore: swift needs the user's Keystone token (Credentials.Token)")
	}
	provider := &gophercloud.ProviderClient{HTTPClient: *httpClient(cfg.Insecure)}
	provider.SetToken(creds.Token)
	provider.UserAgent.Prepend("trove-go-backupstore")
	return &swiftStore{
		cfg:        cfg,
		storageURL: u,
		provider:   provider,
		client:     serviceClient(provider, u.String()),
		segments:   cfg.Container + "_segments",
	}, nil
}

func serviceClient(p *gophercloud.ProviderClient, account string) *gophercloud.ServiceClient {
	return &gophercloud.ServiceClient{ProviderClient: p, Endpoint: strings.TrimRight(account, "/") + "/"}
}

// swiftErr turns a gophercloud error into one that says what to do; it never contains the token.
func (s *swiftStore) swiftErr(what string, err error) error {
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &code) {
		switch code.Actual {
		case http.StatusUnauthorized:
			return fmt.Errorf("backupstore: swift %s: 401 Unauthorized — the token is invalid or expired; act with a fresh token of the backup's owner", what)
		case http.StatusForbidden:
			return fmt.Errorf("backupstore: swift %s: 403 Forbidden — the token's project may not use this account (another tenant's object, or the user lacks the member role)", what)
		case http.StatusNotFound:
			return noObject{fmt.Sprintf("backupstore: swift %s: 404 Not Found", what)}
		}
		return fmt.Errorf("backupstore: swift %s: %s %s answered %d: %s", what, code.Method, code.URL, code.Actual, bytes.TrimSpace(code.Body))
	}
	var uerr *url.Error
	if errors.As(err, &uerr) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("backupstore: swift %s: cannot reach %s://%s (%v) — check that Swift runs and that the object-store endpoint in the Keystone catalog is right",
			what, s.storageURL.Scheme, s.storageURL.Host, uerr.Err)
	}
	return fmt.Errorf("backupstore: swift %s: %w", what, err)
}

func (s *swiftStore) ensureContainers(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ensured {
		return nil
	}
	for _, c := range []string{s.cfg.Container, s.segments} {
		if err := containers.Create(ctx, s.client, c, nil).Err; err != nil {
			return s.swiftErr("creating container "+c, err)
		}
	}
	s.ensured = true
	return nil
}

type sloSegment struct {
	Path      string `json:"path"`
	ETag      string `json:"etag"`
	SizeBytes int64  `json:"size_bytes"`
}

func (s *swiftStore) Put(ctx context.Context, name string, r io.Reader) (obj Object, err error) {
	return s.PutAttrs(ctx, name, r, Attrs{})
}

// PutAttrs is Put with object metadata (X-Object-Meta-*) on the object and an expiry (X-Delete-After) on it and
// its segments.
func (s *swiftStore) PutAttrs(ctx context.Context, name string, r io.Reader, attrs Attrs) (obj Object, err error) {
	if err := checkName(name); err != nil {
		return Object{}, err
	}
	if err := s.ensureContainers(ctx); err != nil {
		return Object{}, err
	}
	whole := newCounter()
	in := bufio.NewReaderSize(io.TeeReader(ctxReader{ctx, r}, whole), 256<<10)
	prefix := name + "/" + uuid.NewString() + "/"
	var manifest []sloSegment
	defer func() {
		if err != nil {
			s.removeSegments(manifest)
		}
	}()
	for i := 0; ; i++ {
		if _, perr := in.Peek(1); perr == io.EOF {
			break
		} else if perr != nil {
			return Object{}, fmt.Errorf("backupstore: reading %s: %w", name, perr)
		}
		if i == maxSwiftSegments {
			return Object{}, fmt.Errorf("backupstore: %s is larger than %d segments of %d bytes: raise [DEFAULT] backup_segment_max_size", name, maxSwiftSegments, s.cfg.SegmentSize)
		}
		seg := newCounter()
		segName := fmt.Sprintf("%s%08d", prefix, i)
		body := io.TeeReader(io.LimitReader(in, s.cfg.SegmentSize), seg)
		res := objects.Create(ctx, s.client, s.segments, segName, objects.CreateOpts{
			Content: body, NoETag: true, ContentType: "application/octet-stream", DeleteAfter: attrs.DeleteAfter,
		})
		// Recorded before checking: a segment stored with a wrong ETag is removed too.
		manifest = append(manifest, sloSegment{Path: "/" + s.segments + "/" + segName, ETag: seg.sum(), SizeBytes: seg.n})
		if res.Err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return Object{}, fmt.Errorf("backupstore: storing %s: %w", name, cerr)
			}
			return Object{}, s.swiftErr("storing segment "+segName, res.Err)
		}
		if etag := strings.Trim(res.Header.Get("Etag"), `"`); etag != seg.sum() {
			return Object{}, fmt.Errorf("backupstore: swift stored segment %s with ETag %s but %d bytes with MD5 %s were sent: retry the backup", segName, etag, seg.n, seg.sum())
		}
	}
	loc := s.location(s.cfg.Container, name)
	if len(manifest) == 0 { // empty input: one plain empty object
		res := objects.Create(ctx, s.client, s.cfg.Container, name, objects.CreateOpts{Content: bytes.NewReader(nil), ContentType: "application/octet-stream", IfNoneMatch: "*",
			Metadata: attrs.Meta, DeleteAfter: attrs.DeleteAfter})
		if res.Err != nil {
			return Object{}, s.swiftErr("storing "+name, res.Err)
		}
		sum := whole.sum()
		return Object{Location: loc, Size: 0, Checksum: sum, MD5: sum}, nil
	}
	sloSum := md5.New()
	for _, m := range manifest {
		sloSum.Write([]byte(m.ETag))
	}
	checksum := hex.EncodeToString(sloSum.Sum(nil))
	body, _ := json.Marshal(manifest)
	// With ETag set, Swift refuses the manifest unless its segments' ETags give the same SLO ETag.
	res := objects.Create(ctx, s.client, s.cfg.Container, name, objects.CreateOpts{
		Content: bytes.NewReader(body), MultipartManifest: "put", ETag: checksum, ContentType: "application/octet-stream",
		IfNoneMatch: "*", // never replaces an object (its segments would be left behind)
		Metadata:    attrs.Meta, DeleteAfter: attrs.DeleteAfter,
	})
	if res.Err != nil {
		if gophercloud.ResponseCodeIs(res.Err, http.StatusPreconditionFailed) {
			return Object{}, fmt.Errorf("backupstore: %s already exists: choose a new object name (Put never replaces an object)", loc)
		}
		return Object{}, s.swiftErr("storing the manifest of "+name, res.Err)
	}
	if etag := strings.Trim(res.Header.Get("Etag"), `"`); etag != "" && etag != checksum {
		return Object{}, fmt.Errorf("backupstore: swift stored the manifest of %s with ETag %s, expected %s: retry the backup", name, etag, checksum)
	}
	return Object{Location: loc, Size: whole.n, Checksum: checksum, MD5: whole.sum()}, nil
}

// removeSegments deletes what a failed Put stored (best effort; its own short deadline, as ctx may be done).
func (s *swiftStore) removeSegments(segs []sloSegment) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, m := range segs {
		obj := strings.TrimPrefix(m.Path, "/"+s.segments+"/")
		_ = objects.Delete(ctx, s.client, s.segments, obj, nil).Err
	}
}

func (s *swiftStore) location(container, name string) string {
	return s.storageURL.String() + "/" + url.PathEscape(container) + "/" + url.PathEscape(name)
}

// parse splits a location into account URL, container and object. The location must be on the same endpoint
// (scheme and host) as the store's storage URL: the user's token is never sent anywhere else.
func (s *swiftStore) parse(location string) (account, container, name string, err error) {
	u, perr := url.Parse(location)
	if perr != nil || u.Scheme != s.storageURL.Scheme || u.Host != s.storageURL.Host || u.RawQuery != "" || u.Fragment != "" {
		return "", "", "", fmt.Errorf("backupstore: location %q is not an object URL on this object-store endpoint (%s://%s)", location, s.storageURL.Scheme, s.storageURL.Host)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) < 4 || parts[len(parts)-3] == "" || !strings.HasPrefix(parts[len(parts)-3], "AUTH_") {
		return "", "", "", fmt.Errorf("backupstore: location %q is not <storage URL>/<container>/<object>", location)
	}
	container, name = parts[len(parts)-2], parts[len(parts)-1]
	if container == "" || checkName(name) != nil {
		return "", "", "", fmt.Errorf("backupstore: location %q is not <storage URL>/<container>/<object>", location)
	}
	acct := *u
	acct.Path = "/" + strings.Join(parts[:len(parts)-2], "/")
	acct.RawPath = ""
	return acct.String(), container, name, nil
}

func (s *swiftStore) Open(ctx context.Context, location string) (io.ReadCloser, error) {
	account, container, name, err := s.parse(location)
	if err != nil {
		return nil, err
	}
	c := serviceClient(s.provider, account)
	// The manifest (when there is one) gives each segment's MD5, so the whole stream is checked as it is read.
	var segs []sloSegment
	mres := objects.Download(ctx, c, container, name, objects.DownloadOpts{MultipartManifest: "get"})
	if mres.Err != nil {
		return nil, s.swiftErr("reading "+location, mres.Err)
	}
	raw, err := io.ReadAll(io.LimitReader(mres.Body, 1<<20))
	mres.Body.Close()
	if err != nil {
		return nil, s.swiftErr("reading "+location, err)
	}
	slo := mres.Header.Get("X-Static-Large-Object") == "True" || strings.EqualFold(mres.Header.Get("X-Static-Large-Object"), "true")
	if slo {
		var listed []struct {
			Hash  string `json:"hash"`
			Bytes int64  `json:"bytes"`
			Name  string `json:"name"`
		}
		if err := json.Unmarshal(raw, &listed); err != nil {
			return nil, fmt.Errorf("backupstore: %s: unreadable SLO manifest: %w", location, err)
		}
		for _, l := range listed {
			segs = append(segs, sloSegment{Path: l.Name, ETag: l.Hash, SizeBytes: l.Bytes})
		}
	}
	res := objects.Download(ctx, c, container, name, nil)
	if res.Err != nil {
		return nil, s.swiftErr("reading "+location, res.Err)
	}
	etag := strings.Trim(res.Header.Get("Etag"), `"`)
	if !slo {
		h := md5.New()
		return &verifyingReader{body: res.Body, location: location, write: func(p []byte) { h.Write(p) }, check: func() error {
			if got := hex.EncodeToString(h.Sum(nil)); got != etag {
				return fmt.Errorf("read MD5 %s, but the object's ETag is %s: the object is corrupt or changed while read", got, etag)
			}
			return nil
		}}, nil
	}
	v := &sloVerifier{segs: segs, cur: md5.New(), all: md5.New()}
	return &verifyingReader{body: res.Body, location: location, write: v.write, check: func() error { return v.check(etag) }}, nil
}

// sloVerifier hashes a stream segment by segment, as the manifest lists them.
type sloVerifier struct {
	segs []sloSegment
	i    int
	n    int64
	cur  interface {
		io.Writer
		Sum([]byte) []byte
		Reset()
	}
	all interface {
		io.Writer
		Sum([]byte) []byte
	}
	bad error
}

func (v *sloVerifier) write(p []byte) {
	for len(p) > 0 && v.bad == nil {
		if v.i >= len(v.segs) {
			v.bad = errors.New("more bytes than the manifest lists")
			return
		}
		k := min(int64(len(p)), v.segs[v.i].SizeBytes-v.n)
		v.cur.Write(p[:k])
		v.n += k
		p = p[k:]
		if v.n == v.segs[v.i].SizeBytes {
			v.finishSegment()
		}
	}
}

func (v *sloVerifier) finishSegment() {
	sum := hex.EncodeToString(v.cur.Sum(nil))
	if sum != v.segs[v.i].ETag {
		v.bad = fmt.Errorf("segment %s read with MD5 %s, the manifest says %s", v.segs[v.i].Path, sum, v.segs[v.i].ETag)
	}
	v.all.Write([]byte(sum))
	v.cur.Reset()
	v.n = 0
	v.i++
}

func (v *sloVerifier) check(etag string) error {
	for v.bad == nil && v.i < len(v.segs) && v.segs[v.i].SizeBytes == 0 {
		v.finishSegment()
	}
	if v.bad != nil {
		return v.bad
	}
	if v.i != len(v.segs) {
		return fmt.Errorf("stream ended in segment %d of %d", v.i+1, len(v.segs))
	}
	if got := hex.EncodeToString(v.all.Sum(nil)); got != etag {
		return fmt.Errorf("segments' MD5s give %s, but the object's ETag is %s", got, etag)
	}
	return nil
}

func (s *swiftStore) Delete(ctx context.Context, location string) error {
	account, container, name, err := s.parse(location)
	if err != nil {
		return err
	}
	c := serviceClient(s.provider, account)
	head := objects.Get(ctx, c, container, name, nil)
	if head.Err != nil {
		if gophercloud.ResponseCodeIs(head.Err, http.StatusNotFound) {
			return nil
		}
		return s.swiftErr("deleting "+location, head.Err)
	}
	if !strings.EqualFold(head.Header.Get("X-Static-Large-Object"), "true") {
		if err := objects.Delete(ctx, c, container, name, nil).Err; err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return s.swiftErr("deleting "+location, err)
		}
		return nil
	}
	// multipart-manifest=delete removes the manifest and its segments; it answers 200 with a bulk-delete report
	// that lists failures.
	resp, err := c.Request(ctx, http.MethodDelete, c.ServiceURL(url.PathEscape(container), url.PathEscape(name))+"?multipart-manifest=delete",
		&gophercloud.RequestOpts{KeepResponseBody: true, OkCodes: []int{200, 204, 404}, MoreHeaders: map[string]string{"Accept": "application/json"}})
	if err != nil {
		return s.swiftErr("deleting "+location, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	var report struct {
		Status string     `json:"Response Status"`
		Body   string     `json:"Response Body"`
		Errors [][]string `json:"Errors"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&report); err != nil {
		return fmt.Errorf("backupstore: deleting %s: unreadable report from swift: %w", location, err)
	}
	if !strings.HasPrefix(report.Status, "200") && !strings.HasPrefix(report.Status, "404") {
		return fmt.Errorf("backupstore: deleting %s: swift answered %s %s %v: retry the delete", location, report.Status, report.Body, report.Errors)
	}
	return nil
}
