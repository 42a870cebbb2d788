package backupstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/config"
)

// payload returns n deterministic, incompressible bytes.
func payload(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = r.Read(b)
	return b
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

// failingReader yields n bytes of data, then fails.
type failingReader struct {
	r io.Reader
}

var errBackupFailed = errors.New("xbstream exited 1")

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errBackupFailed
	}
	return n, err
}

func failAfter(data []byte) io.Reader { return &failingReader{r: bytes.NewReader(data)} }

// lister lists every object name a driver shows (segments and temporary files included).
type lister func(t *testing.T) []string

// roundTrip puts data, checks Object, reads it back and deletes it (twice).
func roundTrip(t *testing.T, s Store, name string, data []byte, list lister) Object {
	t.Helper()
	ctx := context.Background()
	obj, err := s.Put(ctx, name, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if obj.Size != int64(len(data)) || obj.MD5 != md5hex(data) {
		t.Fatalf("Put = %+v, want size %d md5 %s", obj, len(data), md5hex(data))
	}
	if !slices.ContainsFunc(list(t), func(n string) bool { return strings.Contains(n, name) }) {
		t.Fatalf("%s not listed after Put: %v", name, list(t))
	}
	rc, err := s.Open(ctx, obj.Location)
	if err != nil {
		t.Fatalf("Open(%s): %v", obj.Location, err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatalf("reading %s: %v", obj.Location, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (md5 %s), stored %d (md5 %s)", len(got), md5hex(got), len(data), md5hex(data))
	}
	if !strings.HasPrefix(obj.Location, "s3:") { // S3 has no conditional PUT: a second Put replaces
		if _, err := s.Put(ctx, name, bytes.NewReader([]byte("x"))); err == nil {
			t.Fatalf("a second Put of %s replaced the object", name)
		}
	}
	if err := s.Delete(ctx, obj.Location); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.Delete(ctx, obj.Location); err != nil {
		t.Fatalf("Delete of a deleted object: %v", err)
	}
	if names := list(t); slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, name) }) {
		t.Fatalf("after Delete still listed: %v", names)
	}
	if _, err := s.Open(ctx, obj.Location); !errors.Is(err, ErrNoObject) {
		t.Fatalf("Open after Delete: %v, want ErrNoObject", err)
	}
	return obj
}

// failedPut: a Put whose reader fails midway returns that error and leaves nothing listed.
func failedPut(t *testing.T, s Store, name string, data []byte, list lister) {
	t.Helper()
	before := list(t)
	_, err := s.Put(context.Background(), name, failAfter(data))
	if err == nil {
		t.Fatalf("Put with a failing reader succeeded")
	}
	if !strings.Contains(err.Error(), errBackupFailed.Error()) && !errors.Is(err, errBackupFailed) {
		t.Logf("Put error does not name the reader's failure: %v", err)
	}
	after := list(t)
	for _, n := range after {
		if !slices.Contains(before, n) {
			t.Fatalf("after a failed Put %q is listed (before: %v)", n, before)
		}
	}
}

func TestConfig(t *testing.T) {
	f, err := config.Parse("[DEFAULT]\nstorage_strategy = s3\n[backup_s3]\nendpoint = http://127.0.0.1:8080\nbucket = b\n")
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	if c.Driver != DriverS3 || c.S3.Region != "us-east-1" || !c.S3.PathStyle || c.S3.PartSize != DefaultS3PartSize {
		t.Fatalf("got %+v", c)
	}
	f, _ = config.Parse("")
	if c, err = FromConfig(f); err != nil || c.Driver != DriverSwift || c.Swift.Container != "database_backups" || c.Swift.SegmentSize != 5<<30 {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	for _, tc := range []struct{ text, want string }{
		{"[DEFAULT]\nstorage_strategy = ceph\n", "choose swift, s3 or directory"},
		{"[DEFAULT]\nstorage_strategy = directory\n[backup_directory]\nroot = rel/dir\n", "absolute path"},
		{"[DEFAULT]\nstorage_strategy = s3\n[backup_s3]\nbucket = b\n", "[backup_s3] endpoint"},
		{"[DEFAULT]\nstorage_strategy = s3\n[backup_s3]\nendpoint = http://x\nbucket = b\npart_size = 1024\n", "part_size"},
		{"[DEFAULT]\nbackup_segment_max_size = 6442450944\n", "backup_segment_max_size"},
		{"[DEFAULT]\nbackup_swift_container = a/b\n", "backup_swift_container"},
	} {
		f, _ := config.Parse(tc.text)
		if _, err := FromConfig(f); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.text, err, tc.want)
		}
	}
	if _, err := New(Config{Driver: DriverSwift}, Credentials{StorageURL: "http://127.0.0.1:8080/v1/AUTH_x"}); err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("swift without a token: %v", err)
	}
}

func TestCheckName(t *testing.T) {
	for _, n := range []string{"", ".", "..", "../x", "a/b", ".hidden", "a b", strings.Repeat("a", 256)} {
		if checkName(n) == nil {
			t.Errorf("%q accepted", n)
		}
	}
	for _, n := range []string{"6f1c.xbstream.gz", "a", "A-1_b.tar"} {
		if err := checkName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
}

func dirStore(t testing.TB) (Store, string) {
	root := filepath.Join(t.TempDir(), "backups")
	s, err := New(Config{Driver: DriverDirectory, Directory: DirectoryConfig{Root: root}}, Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

func dirLister(root string) lister {
	return func(t *testing.T) []string {
		entries, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
}

func TestDirectory(t *testing.T) {
	s, root := dirStore(t)
	data := payload(3<<20+17, 1)
	obj := roundTrip(t, s, "b1.xbstream.gz", data, dirLister(root))
	if obj.Checksum != md5hex(data) || obj.Location != "file://"+filepath.Join(root, "b1.xbstream.gz") {
		t.Fatalf("object %+v", obj)
	}
	roundTrip(t, s, "empty", nil, dirLister(root))
	failedPut(t, s, "b2.xbstream.gz", data, dirLister(root))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Put(ctx, "b3", bytes.NewReader(data)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: %v", err)
	}
	if n := dirLister(root)(t); len(n) != 0 {
		t.Fatalf("left behind: %v", n)
	}

	// Locations outside the root are refused, whatever their spelling.
	outside := filepath.Join(filepath.Dir(root), "secret")
	if err := os.WriteFile(outside, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{
		"file:///etc/passwd", "file://" + outside, "file://" + root + "/../secret", "file://" + root + "/%2e%2e/secret",
		"file://" + root + "/link", "file://" + root + "/sub/x", "s3://b/x", "file://" + root,
		"file://otherhost" + root + "/x", "/etc/passwd",
	} {
		if rc, err := s.Open(context.Background(), loc); err == nil {
			rc.Close()
			t.Errorf("Open(%q) succeeded", loc)
		}
		if loc != "file://"+root+"/link" {
			if err := s.Delete(context.Background(), loc); err == nil {
				t.Errorf("Delete(%q) succeeded", loc)
			}
		}
	}
	if _, err := os.Stat(outside); err != nil {
		t.Fatalf("the file outside the root is gone: %v", err)
	}

	// A root that cannot be created: a clear error at New.
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{Driver: DriverDirectory, Directory: DirectoryConfig{Root: file + "/sub"}}, Credentials{})
	if err == nil || !strings.Contains(err.Error(), "[backup_directory] root") {
		t.Fatalf("New with an unusable root: %v", err)
	}
}

func TestSLOVerifier(t *testing.T) {
	data := payload(10, 2)
	segs := []sloSegment{{ETag: md5hex(data[:4]), SizeBytes: 4}, {ETag: md5hex(data[4:]), SizeBytes: 6}}
	etag := md5hex([]byte(segs[0].ETag + segs[1].ETag))
	v := &sloVerifier{segs: segs, cur: md5.New(), all: md5.New()}
	for _, b := range data {
		v.write([]byte{b})
	}
	if err := v.check(etag); err != nil {
		t.Fatal(err)
	}
	data[5] ^= 1
	v = &sloVerifier{segs: segs, cur: md5.New(), all: md5.New()}
	v.write(data)
	if err := v.check(etag); err == nil {
		t.Fatal("a changed byte passed")
	}
	v = &sloVerifier{segs: segs, cur: md5.New(), all: md5.New()}
	v.write(data[:7])
	if err := v.check(etag); err == nil {
		t.Fatal("a short stream passed")
	}
}

func TestPartHasher(t *testing.T) {
	data := payload(25, 3)
	p := &partHasher{size: 10, cur: md5.New()}
	p.Write(data[:3])
	p.Write(data[3:])
	var cat []byte
	for i := 0; i < 25; i += 10 {
		s := md5.Sum(data[i:min(i+10, 25)])
		cat = append(cat, s[:]...)
	}
	if want := fmt.Sprintf("%s-3", md5hex(cat)); p.etag() != want {
		t.Fatalf("etag %s, want %s", p.etag(), want)
	}
}
