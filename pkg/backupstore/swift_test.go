package backupstore

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/ec2credentials"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/minio/minio-go/v7"
	"github.com/trove-go/trove/pkg/testenv"
)

// tenant is a user's view of the test cloud: a Keystone token and the object-store endpoint of its catalog, as
// Trove's API hands them to the guest.
type tenant struct {
	creds     Credentials
	userID    string
	projectID string
	provider  *gophercloud.ProviderClient
	swift     *gophercloud.ServiceClient
}

// swiftUp fails the test loudly when the Swift deploy/swift.sh runs does not answer.
func swiftUp(t testing.TB) string {
	t.Helper()
	base := testenv.Get(t, "TROVE_TEST_SWIFT_URL")
	resp, err := http.Get(base + "/healthcheck")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Swift at %s does not answer /healthcheck (%v): run deploy/test-env.sh (deploy/swift.sh start)", base, err)
	}
	resp.Body.Close()
	return base
}

// login: user in project (both named demo or demo2; deploy/keystone_entities.py).
func login(t testing.TB, user, project string) tenant {
	t.Helper()
	swiftUp(t)
	ctx := context.Background()
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: testenv.KeystoneURL(t), Username: user, Password: testenv.Get(t, "TROVE_TEST_DEMO_PASSWORD"),
		DomainID: "default", Scope: &gophercloud.AuthScope{ProjectName: project, DomainID: "default"},
	})
	if err != nil {
		t.Fatalf("keystone login %s/%s: %v", user, project, err)
	}
	res, ok := provider.GetAuthResult().(tokens.CreateResult)
	if !ok {
		t.Fatalf("unexpected auth result %T", provider.GetAuthResult())
	}
	u, err := res.ExtractUser()
	if err != nil {
		t.Fatal(err)
	}
	p, err := res.ExtractProject()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := openstack.NewObjectStorageV1(provider, gophercloud.EndpointOpts{Availability: gophercloud.AvailabilityPublic})
	if err != nil {
		t.Fatalf("no object-store endpoint in %s's catalog (deploy/swift.sh registers it): %v", user, err)
	}
	return tenant{
		creds:  Credentials{StorageURL: strings.TrimRight(sc.Endpoint, "/"), Token: provider.Token()},
		userID: u.ID, projectID: p.ID, provider: provider, swift: sc,
	}
}

// listContainers lists every object of the containers (missing containers list nothing).
func (tn tenant) lister(names ...string) lister {
	return func(t *testing.T) []string {
		var out []string
		for _, c := range names {
			page, err := objects.List(tn.swift, c, objects.ListOpts{}).AllPages(context.Background())
			if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
				continue
			}
			if err != nil {
				t.Fatalf("listing %s: %v", c, err)
			}
			got, err := objects.ExtractNames(page)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range got {
				out = append(out, c+"/"+n)
			}
		}
		return out
	}
}

// removeContainers empties and removes the containers at cleanup.
func (tn tenant) removeContainers(t testing.TB, names ...string) {
	t.Cleanup(func() {
		ctx := context.Background()
		for _, c := range names {
			page, err := objects.List(tn.swift, c, objects.ListOpts{}).AllPages(ctx)
			if err == nil {
				got, _ := objects.ExtractNames(page)
				for _, n := range got {
					_ = objects.Delete(ctx, tn.swift, c, n, nil).Err
				}
			}
			_ = containers.Delete(ctx, tn.swift, c).Err
		}
	})
}

func newSwiftStore(t testing.TB, tn tenant, segment int64) (Store, string) {
	t.Helper()
	container := testenv.UniqueName(t, "backups")
	tn.removeContainers(t, container, container+"_segments")
	s, err := New(Config{Driver: DriverSwift, Swift: SwiftConfig{Container: container, SegmentSize: segment}}, tn.creds)
	if err != nil {
		t.Fatal(err)
	}
	return s, container
}

func TestSwift(t *testing.T) {
	demo := login(t, "demo", "demo")
	s, container := newSwiftStore(t, demo, 0)
	list := demo.lister(container, container+"_segments")
	data := payload(3<<20+5, 4)

	obj := roundTrip(t, s, "b1.xbstream.gz", data, list)
	wantLoc := demo.creds.StorageURL + "/" + container + "/b1.xbstream.gz"
	if obj.Location != wantLoc || !strings.Contains(obj.Location, "/v1/AUTH_"+demo.projectID+"/") {
		t.Fatalf("location %s, want %s", obj.Location, wantLoc)
	}
	// One segment: the SLO ETag is the MD5 of the segment's MD5 (Trove's guest computes the same).
	if want := md5hex([]byte(md5hex(data))); obj.Checksum != want {
		t.Fatalf("checksum %s, want %s", obj.Checksum, want)
	}
	roundTrip(t, s, "empty", nil, list)

	t.Run("segments", func(t *testing.T) {
		s, container := newSwiftStore(t, demo, 1<<20)
		list := demo.lister(container, container+"_segments")
		data := payload(3<<20+512<<10, 5)
		obj, err := s.Put(context.Background(), "big.xbstream.gz", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		var cat string
		for i := 0; i < len(data); i += 1 << 20 {
			cat += md5hex(data[i:min(i+1<<20, len(data))])
		}
		if obj.Checksum != md5hex([]byte(cat)) || obj.MD5 != md5hex(data) || obj.Size != int64(len(data)) {
			t.Fatalf("object %+v", obj)
		}
		names := list(t)
		segs := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !strings.HasPrefix(n, container+"_segments/") })
		if len(segs) != 4 {
			t.Fatalf("want 4 segments, listed %v", names)
		}
		// What Swift itself says about the object (HEAD): an SLO with Trove's checksum as ETag.
		head := objects.Get(context.Background(), demo.swift, container, "big.xbstream.gz", nil)
		if head.Err != nil || head.Header.Get("X-Static-Large-Object") != "True" || strings.Trim(head.Header.Get("Etag"), `"`) != obj.Checksum {
			t.Fatalf("HEAD: %v %v", head.Err, head.Header)
		}
		roundTripStored(t, s, obj, data)
		if err := s.Delete(context.Background(), obj.Location); err != nil {
			t.Fatal(err)
		}
		if names := list(t); len(names) != 0 {
			t.Fatalf("after Delete listed: %v", names)
		}
		failedPut(t, s, "broken.xbstream.gz", data, list)
	})

	t.Run("failed put", func(t *testing.T) {
		failedPut(t, s, "b2.xbstream.gz", data, list)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := s.Put(ctx, "slow", slowReader{}); err == nil {
			t.Fatal("Put past its deadline succeeded")
		}
		if names := list(t); slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, "slow") }) {
			t.Fatalf("left behind: %v", names)
		}
	})

	t.Run("other tenant", func(t *testing.T) {
		obj, err := s.Put(context.Background(), "mine", bytes.NewReader(data[:1000]))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Delete(context.Background(), obj.Location) })
		other := login(t, "demo2", "demo2")
		s2, err := New(Config{Driver: DriverSwift, Swift: SwiftConfig{Container: container}}, other.creds)
		if err != nil {
			t.Fatal(err)
		}
		if rc, err := s2.Open(context.Background(), obj.Location); err == nil {
			rc.Close()
			t.Fatal("demo2's token opened demo's object")
		} else if !strings.Contains(err.Error(), "403") {
			t.Fatalf("demo2 opening demo's object: %v (want a 403)", err)
		}
		if err := s2.Delete(context.Background(), obj.Location); err == nil || !strings.Contains(err.Error(), "403") {
			t.Fatalf("demo2 deleting demo's object: %v (want a 403)", err)
		}
		// A location on another host never gets the token.
		if _, err := s2.Open(context.Background(), "http://198.51.100.7:8080/v1/AUTH_x/c/o"); err == nil || !strings.Contains(err.Error(), "not an object URL on this object-store endpoint") {
			t.Fatalf("foreign host: %v", err)
		}
		if _, err := s.Open(context.Background(), obj.Location); err != nil {
			t.Fatalf("the owner cannot open it any more: %v", err)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		s, err := New(Config{Driver: DriverSwift}, Credentials{StorageURL: "http://127.0.0.1:1/v1/AUTH_" + demo.projectID, Token: demo.creds.Token})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Put(context.Background(), "x", bytes.NewReader(data[:10]))
		if err == nil || !strings.Contains(err.Error(), "cannot reach http://127.0.0.1:1") {
			t.Fatalf("Put to a closed port: %v", err)
		}
		if strings.Contains(err.Error(), demo.creds.Token) {
			t.Fatal("the error shows the token")
		}
		bad, _ := New(Config{Driver: DriverSwift}, Credentials{StorageURL: demo.creds.StorageURL, Token: "gAAAAnot-a-token"})
		if _, err := bad.Put(context.Background(), "x", bytes.NewReader(data[:10])); err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("Put with a bad token: %v", err)
		}
	})
}

// roundTripStored reads obj back and compares.
func roundTripStored(t *testing.T, s Store, obj Object, data []byte) {
	t.Helper()
	rc, err := s.Open(context.Background(), obj.Location)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("read back %d bytes, md5 %s; want %d, %s", buf.Len(), md5hex(buf.Bytes()), len(data), md5hex(data))
	}
}

// slowReader never ends: a Put of it ends only with its context.
type slowReader struct{}

func (slowReader) Read(p []byte) (int, error) {
	time.Sleep(5 * time.Millisecond)
	n := min(len(p), 4096)
	clear(p[:n])
	return n, nil
}

// ec2 creates EC2 credentials for the tenant in Keystone (removed at cleanup).
func (tn tenant) ec2(t testing.TB) Credentials {
	t.Helper()
	id, err := openstack.NewIdentityV3(tn.provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ec2credentials.Create(context.Background(), id, tn.userID, ec2credentials.CreateOpts{TenantID: tn.projectID}).Extract()
	if err != nil {
		t.Fatalf("creating EC2 credentials: %v", err)
	}
	t.Cleanup(func() { _ = ec2credentials.Delete(context.Background(), id, tn.userID, c.Access).ExtractErr() })
	return Credentials{AccessKey: c.Access, SecretKey: c.Secret}
}

func newS3Store(t testing.TB, tn tenant, partSize int64) (Store, *s3Store) {
	t.Helper()
	swiftUp(t)
	bucket := testenv.UniqueName(t, "backups")
	// s3api keeps a bucket's multipart parts in the Swift container <bucket>+segments.
	tn.removeContainers(t, bucket, bucket+"+segments")
	s, err := New(Config{Driver: DriverS3, S3: S3Config{
		Endpoint: testenv.Get(t, "TROVE_TEST_S3_ENDPOINT"), Bucket: bucket, PathStyle: true, PartSize: partSize,
	}}, tn.ec2(t))
	if err != nil {
		t.Fatal(err)
	}
	return s, s.(*s3Store)
}

func (s *s3Store) lister(tn tenant) lister {
	swiftList := tn.lister(s.cfg.Bucket, s.cfg.Bucket+"+segments")
	return func(t *testing.T) []string {
		var out []string
		for o := range s.client.ListObjects(context.Background(), s.cfg.Bucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				t.Fatalf("listing bucket %s: %v", s.cfg.Bucket, o.Err)
			}
			out = append(out, "s3:"+o.Key)
		}
		// And what Swift holds: parts of unfinished multipart uploads too.
		return append(out, swiftList(t)...)
	}
}

func TestS3(t *testing.T) {
	demo := login(t, "demo", "demo")
	s, raw := newS3Store(t, demo, minS3PartSize)
	list := raw.lister(demo)
	data := payload(12<<20+3, 6) // three parts of 5 MiB
	obj := roundTrip(t, s, "b1.xbstream.gz", data, list)
	if obj.Checksum != md5hex(data) || obj.Location != "s3://"+raw.cfg.Bucket+"/b1.xbstream.gz" {
		t.Fatalf("object %+v", obj)
	}
	small := roundTrip(t, s, "small", data[:1<<20], list)
	if small.Checksum != md5hex(data[:1<<20]) {
		t.Fatalf("object %+v", small)
	}

	t.Run("failed put", func(t *testing.T) {
		failedPut(t, s, "b2.xbstream.gz", data, list)
	})

	t.Run("endpoint form", func(t *testing.T) {
		obj, err := s.Put(context.Background(), "ep", bytes.NewReader(data[:100]))
		if err != nil {
			t.Fatal(err)
		}
		loc := testenv.Get(t, "TROVE_TEST_S3_ENDPOINT") + "/" + raw.cfg.Bucket + "/ep"
		roundTripStored(t, s, Object{Location: loc}, data[:100])
		if err := s.Delete(context.Background(), loc); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Open(context.Background(), obj.Location); err == nil || !strings.Contains(err.Error(), "no such object") {
			t.Fatalf("Open after Delete: %v", err)
		}
	})

	t.Run("other tenant", func(t *testing.T) {
		obj, err := s.Put(context.Background(), "mine", bytes.NewReader(data[:1000]))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Delete(context.Background(), obj.Location) })
		other := login(t, "demo2", "demo2")
		s2, err := New(Config{Driver: DriverS3, S3: S3Config{Endpoint: raw.cfg.Endpoint, Bucket: raw.cfg.Bucket, PathStyle: true}}, other.ec2(t))
		if err != nil {
			t.Fatal(err)
		}
		// demo2's S3 bucket of that name is in demo2's own account: demo's object is not there.
		if rc, err := s2.Open(context.Background(), obj.Location); err == nil {
			rc.Close()
			t.Fatal("demo2's credentials opened demo's object")
		} else {
			t.Logf("demo2 opening demo's object: %v", err)
		}
		if _, err := s.Open(context.Background(), obj.Location); err != nil {
			t.Fatalf("the owner cannot open it any more: %v", err)
		}
	})

	t.Run("unreachable and bad keys", func(t *testing.T) {
		s, err := New(Config{Driver: DriverS3, S3: S3Config{Endpoint: "http://127.0.0.1:1", Bucket: "backups", PathStyle: true, AccessKey: "a", SecretKey: "s3cr3t-v4lue"}}, Credentials{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Put(context.Background(), "x", bytes.NewReader(data[:10]))
		if err == nil || !strings.Contains(err.Error(), "cannot reach http://127.0.0.1:1") {
			t.Fatalf("Put to a closed port: %v", err)
		}
		bad, err := New(Config{Driver: DriverS3, S3: S3Config{Endpoint: raw.cfg.Endpoint, Bucket: raw.cfg.Bucket, PathStyle: true, AccessKey: "nobody", SecretKey: "s3cr3t-v4lue"}}, Credentials{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.Put(context.Background(), "x", bytes.NewReader(data[:10]))
		if err == nil || !strings.Contains(err.Error(), "access_key") || strings.Contains(err.Error(), "s3cr3t-v4lue") {
			t.Fatalf("Put with unknown keys: %v", err)
		}
	})
}
