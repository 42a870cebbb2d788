package backupstore

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3Store stores each object with one streaming multipart upload (minio-go, size unknown): one part of PartSize
// bytes is held in memory while sent; the object appears only when the upload completes, and a failed upload is
// aborted. Checksum and MD5 are the hex MD5 of the bytes; the multipart ETag S3 answers (MD5 of the parts' MD5s,
// "-<parts>") is checked against the parts as sent.
type s3Store struct {
	cfg      S3Config
	endpoint *url.URL
	client   *minio.Client

	mu      sync.Mutex
	ensured bool
}

func newS3(cfg S3Config, creds Credentials) (Store, error) {
	u, err := url.Parse(strings.TrimRight(cfg.Endpoint, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("backupstore: [backup_s3] endpoint %q: give http(s)://host[:port] with no path", cfg.Endpoint)
	}
	ak, sk := cfg.AccessKey, cfg.SecretKey
	if creds.AccessKey != "" {
		ak, sk = creds.AccessKey, creds.SecretKey
	}
	if ak == "" || sk == "" {
		return nil, errors.New("backupstore: s3 needs an access key and a secret key ([backup_s3] access_key/secret_key, or EC2 credentials from Keystone)")
	}
	lookup := minio.BucketLookupDNS
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(ak, sk, ""),
		Secure:       u.Scheme == "https",
		Region:       cfg.Region,
		BucketLookup: lookup,
		Transport:    httpClient(cfg.Insecure).Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("backupstore: [backup_s3] endpoint %s: %w", u.Host, err)
	}
	return &s3Store{cfg: cfg, endpoint: u, client: client}, nil
}

// s3Err says what to do; it never contains a key.
func (s *s3Store) s3Err(what string, err error) error {
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "NoSuchKey":
		return noObject{fmt.Sprintf("backupstore: s3 %s: no such object", what)}
	case resp.Code == "NoSuchBucket":
		return fmt.Errorf("backupstore: s3 %s: no bucket %s", what, s.cfg.Bucket)
	case resp.StatusCode == http.StatusForbidden || resp.Code == "AccessDenied" || resp.Code == "SignatureDoesNotMatch" || resp.Code == "InvalidAccessKeyId":
		return fmt.Errorf("backupstore: s3 %s: %s (%s) — check [backup_s3] access_key/secret_key (EC2 credentials) and that they may use bucket %s", what, resp.Code, resp.Message, s.cfg.Bucket)
	case resp.Code != "":
		return fmt.Errorf("backupstore: s3 %s: %s: %s", what, resp.Code, resp.Message)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("backupstore: s3 %s: cannot reach %s (%v) — check [backup_s3] endpoint and that the S3 service runs", what, s.endpoint, uerr.Err)
	}
	return fmt.Errorf("backupstore: s3 %s: %w", what, err)
}

func (s *s3Store) ensureBucket(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ensured {
		return nil
	}
	ok, err := s.client.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return s.s3Err("checking bucket "+s.cfg.Bucket, err)
	}
	if !ok {
		if err := s.client.MakeBucket(ctx, s.cfg.Bucket, minio.MakeBucketOptions{Region: s.cfg.Region}); err != nil {
			if code := minio.ToErrorResponse(err).Code; code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
				return s.s3Err("creating bucket "+s.cfg.Bucket, err)
			}
		}
	}
	s.ensured = true
	return nil
}

// partHasher follows minio's part boundaries (parts of exactly size bytes but the last) to compute the multipart
// ETag S3 should answer.
type partHasher struct {
	size  int64
	n     int64
	cur   hash.Hash
	sums  []byte
	parts int
}

func (p *partHasher) Write(b []byte) (int, error) {
	total := len(b)
	for len(b) > 0 {
		k := min(int64(len(b)), p.size-p.n)
		p.cur.Write(b[:k])
		p.n += k
		b = b[k:]
		if p.n == p.size {
			p.finish()
		}
	}
	return total, nil
}

func (p *partHasher) finish() {
	p.sums = p.cur.Sum(p.sums)
	p.parts++
	p.cur.Reset()
	p.n = 0
}

func (p *partHasher) etag() string {
	if p.n > 0 || p.parts == 0 {
		p.finish()
	}
	s := md5.Sum(p.sums)
	return fmt.Sprintf("%s-%d", hex.EncodeToString(s[:]), p.parts)
}

func (s *s3Store) location(key string) string { return "s3://" + s.cfg.Bucket + "/" + key }

func (s *s3Store) Put(ctx context.Context, name string, r io.Reader) (Object, error) {
	if err := checkName(name); err != nil {
		return Object{}, err
	}
	if err := s.ensureBucket(ctx); err != nil {
		return Object{}, err
	}
	whole := newCounter()
	parts := &partHasher{size: s.cfg.PartSize, cur: md5.New()}
	body := io.TeeReader(ctxReader{ctx, r}, io.MultiWriter(whole, parts))
	info, err := s.client.PutObject(ctx, s.cfg.Bucket, name, body, -1, minio.PutObjectOptions{
		PartSize:    uint64(s.cfg.PartSize),
		ContentType: "application/octet-stream",
		// Swift's s3api refuses aws-chunked (streaming SigV4) bodies: parts go as UNSIGNED-PAYLOAD with a
		// Content-MD5 the server checks (the part is in memory anyway).
		DisableContentSha256: true,
		SendContentMd5:       true,
	})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return Object{}, fmt.Errorf("backupstore: storing %s: %w", name, cerr)
		}
		return Object{}, s.s3Err("storing "+name, err)
	}
	sum := whole.sum()
	got := strings.Trim(info.ETag, `"`)
	if want := parts.etag(); got != want && got != sum {
		_ = s.client.RemoveObject(context.WithoutCancel(ctx), s.cfg.Bucket, name, minio.RemoveObjectOptions{})
		return Object{}, fmt.Errorf("backupstore: s3 stored %s with ETag %s, but the parts sent give %s: removed it; retry the backup", name, got, want)
	}
	if info.Size != whole.n {
		return Object{}, fmt.Errorf("backupstore: s3 stored %d bytes of %s, %d were sent: retry the backup", info.Size, name, whole.n)
	}
	return Object{Location: s.location(name), Size: whole.n, Checksum: sum, MD5: sum}, nil
}

// parse accepts s3://<bucket>/<key> and the endpoint URL form <endpoint>/<bucket>/<key> (path-style).
func (s *s3Store) parse(location string) (bucket, key string, err error) {
	u, perr := url.Parse(location)
	bad := fmt.Errorf("backupstore: location %q is not s3://<bucket>/<object> or %s/<bucket>/<object>", location, s.endpoint)
	if perr != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", bad
	}
	var path string
	switch {
	case u.Scheme == "s3":
		bucket, path = u.Host, strings.TrimPrefix(u.Path, "/")
	case u.Scheme == s.endpoint.Scheme && u.Host == s.endpoint.Host:
		bucket, path, _ = strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	default:
		return "", "", bad
	}
	if bucket == "" || checkName(path) != nil {
		return "", "", bad
	}
	return bucket, path, nil
}

func (s *s3Store) Open(ctx context.Context, location string) (io.ReadCloser, error) {
	bucket, key, err := s.parse(location)
	if err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.s3Err("reading "+location, err)
	}
	// GetObject is lazy: Stat makes the request, so a missing object or a refusal shows here.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, s.s3Err("reading "+location, err)
	}
	return obj, nil
}

func (s *s3Store) Delete(ctx context.Context, location string) error {
	bucket, key, err := s.parse(location)
	if err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}); err != nil {
		if code := minio.ToErrorResponse(err).Code; code == "NoSuchKey" || code == "NoSuchBucket" {
			return nil
		}
		return s.s3Err("deleting "+location, err)
	}
	return nil
}
