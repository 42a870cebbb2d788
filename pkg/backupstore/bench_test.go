package backupstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/minio/minio-go/v7"
)

// benchSize: TROVE_BENCH_BACKUP_MB (default 64; 1 GiB is too much for CI).
func benchSize(b *testing.B) int {
	mb := 64
	if v := os.Getenv("TROVE_BENCH_BACKUP_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("TROVE_BENCH_BACKUP_MB=%q: give a number of MiB", v)
		}
		mb = n
	}
	return mb << 20
}

// BenchmarkStore measures Put and Open MB/s per driver and, beside them, the raw speed of the same store (one plain
// PUT/GET of the same bytes, no segmenting, hashing or verification), so backup speed can be given as % of raw.
func BenchmarkStore(b *testing.B) {
	data := payload(benchSize(b), 7)
	ctx := context.Background()

	bench := func(b *testing.B, put func(i int) string, open func(loc string) io.ReadCloser) {
		var locs []string
		b.Run("put", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; b.Loop(); i++ {
				locs = append(locs, put(i))
			}
		})
		b.Run("open", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				rc := open(locs[0])
				if n, err := io.Copy(io.Discard, rc); err != nil || n != int64(len(data)) {
					b.Fatalf("read %d bytes: %v", n, err)
				}
				rc.Close()
			}
		})
	}
	storeBench := func(b *testing.B, s Store) {
		bench(b, func(i int) string {
			obj, err := s.Put(ctx, fmt.Sprintf("bench-%d", i), bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Delete(ctx, obj.Location) })
			return obj.Location
		}, func(loc string) io.ReadCloser {
			rc, err := s.Open(ctx, loc)
			if err != nil {
				b.Fatal(err)
			}
			return rc
		})
	}

	b.Run("directory", func(b *testing.B) {
		s, _ := dirStore(b)
		storeBench(b, s)
	})
	b.Run("directory-raw", func(b *testing.B) {
		dir := b.TempDir()
		bench(b, func(i int) string {
			p := filepath.Join(dir, strconv.Itoa(i))
			f, err := os.Create(p)
			if err == nil {
				_, err = io.Copy(f, bytes.NewReader(data))
			}
			if err == nil {
				err = f.Sync()
			}
			if err == nil {
				err = f.Close()
			}
			if err != nil {
				b.Fatal(err)
			}
			return p
		}, func(p string) io.ReadCloser {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			return f
		})
	})

	demo := login(b, "demo", "demo")
	b.Run("swift", func(b *testing.B) {
		s, _ := newSwiftStore(b, demo, 0)
		storeBench(b, s)
	})
	b.Run("swift-raw", func(b *testing.B) {
		container := "bench-raw"
		demo.removeContainers(b, container)
		if err := containers.Create(ctx, demo.swift, container, nil).Err; err != nil {
			b.Fatal(err)
		}
		client := httpClient(false)
		do := func(method, url string, body io.Reader) *http.Response {
			req, _ := http.NewRequestWithContext(ctx, method, url, body)
			req.Header.Set("X-Auth-Token", demo.creds.Token)
			resp, err := client.Do(req)
			if err != nil || resp.StatusCode >= 300 {
				b.Fatalf("%s %s: %v %v", method, url, err, resp)
			}
			return resp
		}
		bench(b, func(i int) string {
			url := demo.creds.StorageURL + "/" + container + "/raw-" + strconv.Itoa(i)
			// io.MultiReader hides the length: chunked, like a streamed backup.
			do(http.MethodPut, url, io.MultiReader(bytes.NewReader(data))).Body.Close()
			return url
		}, func(url string) io.ReadCloser { return do(http.MethodGet, url, nil).Body })
	})
	b.Run("s3", func(b *testing.B) {
		s, _ := newS3Store(b, demo, DefaultS3PartSize)
		storeBench(b, s)
	})
	b.Run("s3-raw", func(b *testing.B) {
		_, raw := newS3Store(b, demo, DefaultS3PartSize)
		if err := raw.ensureBucket(ctx); err != nil {
			b.Fatal(err)
		}
		bench(b, func(i int) string {
			key := "raw-" + strconv.Itoa(i)
			// One PUT of known size: the fastest the endpoint takes an object.
			if _, err := raw.client.PutObject(ctx, raw.cfg.Bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
				DisableMultipart: true, DisableContentSha256: true,
			}); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = raw.client.RemoveObject(ctx, raw.cfg.Bucket, key, minio.RemoveObjectOptions{}) })
			return key
		}, func(key string) io.ReadCloser {
			o, err := raw.client.GetObject(ctx, raw.cfg.Bucket, key, minio.GetObjectOptions{})
			if err != nil {
				b.Fatal(err)
			}
			return o
		})
	})
}
