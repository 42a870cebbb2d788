package backupcrypt

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/trove-go/trove/pkg/config"
)

const (
	keyA = "0123456789abcdef0123456789abcdef"
	keyB = "fedcba9876543210fedcba9876543210"
)

func seal(t testing.TB, keys Keys, pt []byte, writes int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, keys)
	if err != nil {
		t.Fatal(err)
	}
	step := max(1, len(pt)/max(1, writes))
	for p := pt; len(p) > 0; {
		n := min(step, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func open(keys Keys, obj []byte) ([]byte, error) {
	r, err := NewReader(iotest.HalfReader(bytes.NewReader(obj)), keys)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestRoundTrip(t *testing.T) {
	keys := Keys{Current: keyA}
	for _, size := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3 * chunkSize, 3*chunkSize + 17} {
		pt := make([]byte, size)
		_, _ = rand.Read(pt)
		for _, writes := range []int{1, 7, 1000} {
			obj := seal(t, keys, pt, writes)
			if !Encrypted(obj) {
				t.Fatal("no magic")
			}
			chunks := max(1, (size+chunkSize-1)/chunkSize)
			if want := headerSize + size + chunks*tagSize; len(obj) != want {
				t.Fatalf("size %d: object of %d bytes, want %d", size, len(obj), want)
			}
			got, err := open(keys, obj)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("size %d writes %d: %v (%d bytes back)", size, writes, err, len(got))
			}
		}
	}
}

// The plaintext never appears in the object, and two objects of the same plaintext differ (fresh data keys).
func TestNoPlaintext(t *testing.T) {
	pt := bytes.Repeat([]byte("MARKER-ROW-visible-in-plaintext "), 10000)
	a := seal(t, Keys{Current: keyA}, pt, 3)
	b := seal(t, Keys{Current: keyA}, pt, 3)
	if bytes.Contains(a, []byte("MARKER-ROW")) {
		t.Fatal("plaintext in the object")
	}
	if bytes.Equal(a[headerSize:], b[headerSize:]) {
		t.Fatal("two objects share a data key")
	}
}

// Any one changed byte — header or chunk — fails with ErrCorrupt before a byte of the changed chunk is released.
func TestTamper(t *testing.T) {
	keys := Keys{Current: keyA}
	pt := make([]byte, 2*chunkSize+100)
	_, _ = rand.Read(pt)
	obj := seal(t, keys, pt, 1)
	for _, at := range []int{len(Magic) + 2, len(Magic) + 6, prefixSize + 3, headerSize - 1, headerSize, headerSize + chunkSize + tagSize + 5, len(obj) - 1} {
		bad := bytes.Clone(obj)
		bad[at] ^= 0x01
		r, err := NewReader(bytes.NewReader(bad), keys)
		var got []byte
		if err == nil {
			got, err = io.ReadAll(r)
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("byte %d flipped: %v", at, err)
		}
		// nothing of the changed chunk (or after it) came out
		if at >= headerSize {
			chunk := (at - headerSize) / (chunkSize + tagSize)
			if len(got) > chunk*chunkSize || !bytes.Equal(got, pt[:len(got)]) {
				t.Fatalf("byte %d flipped: %d bytes released", at, len(got))
			}
		}
	}
}

func TestTruncatedAndAppended(t *testing.T) {
	keys := Keys{Current: keyA}
	pt := make([]byte, 2*chunkSize)
	_, _ = rand.Read(pt)
	obj := seal(t, keys, pt, 1)
	full := chunkSize + tagSize
	for _, n := range []int{0, 5, headerSize - 1, headerSize, headerSize + 10, headerSize + full, headerSize + full + 10, len(obj) - 1} {
		_, err := open(keys, obj[:n])
		if n == 0 {
			if err == nil {
				t.Fatal("empty object opened")
			}
			continue
		}
		if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d: %v", n, err)
		}
		if n == headerSize+full && !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at a chunk boundary: %v, want ErrTruncated", err)
		}
	}
	if _, err := open(keys, append(bytes.Clone(obj), 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("appended byte: %v", err)
	}
}

// After a rotation the old key, as a previous key, still opens old objects; new ones use the new key; an
// object of a key no longer configured names its key id.
func TestRotation(t *testing.T) {
	pt := []byte("rows")
	old := seal(t, Keys{Current: keyA}, pt, 1)
	rotated := Keys{Current: keyB, Previous: []string{keyA}}
	if got, err := open(rotated, old); err != nil || string(got) != "rows" {
		t.Fatalf("old object after rotation: %v", err)
	}
	r, _ := NewReader(bytes.NewReader(seal(t, rotated, pt, 1)), Keys{Current: keyB})
	if r == nil || r.KeyID != KeyID(keyB) {
		t.Fatal("new object not under the new key")
	}
	_, err := open(Keys{Current: keyB}, old)
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), KeyID(keyA)) || strings.Contains(err.Error(), keyA) {
		t.Fatalf("old object without its key: %v", err)
	}
}

func TestConfig(t *testing.T) {
	f, _ := config.Parse("[backup_encryption]\nkey = " + keyB + "\nprevious_keys = " + keyA + ", 11111111111111111111\n")
	k, err := FromConfig(f)
	if err != nil || k.Current != keyB || len(k.Previous) != 2 || k.Previous[0] != keyA {
		t.Fatalf("%+v %v", k, err)
	}
	f, _ = config.Parse("[backup_encryption]\nkey = " + keyA + "\nprevious_keys =\n")
	if k, err := FromConfig(f); err != nil || len(k.Previous) != 0 {
		t.Fatalf("empty previous_keys: %+v %v", k, err)
	}
	f, _ = config.Parse("[DEFAULT]\n")
	if k, err := FromConfig(f); err != nil || k.Enabled() {
		t.Fatalf("no key: %+v %v", k, err)
	}
	for _, bad := range []string{"key = short", "key = default_aes_cbc_key", "previous_keys = " + keyA} {
		f, _ = config.Parse("[backup_encryption]\n" + bad + "\n")
		if _, err := FromConfig(f); err == nil {
			t.Fatalf("%s accepted", bad)
		} else if strings.Contains(err.Error(), keyA) {
			t.Fatal("error shows the key")
		}
	}
}

func BenchmarkEncrypt(b *testing.B) {
	buf := make([]byte, 1<<20)
	_, _ = rand.Read(buf)
	b.SetBytes(int64(len(buf)))
	w, _ := NewWriter(io.Discard, Keys{Current: keyA})
	for b.Loop() {
		_, _ = w.Write(buf)
	}
}

func BenchmarkDecrypt(b *testing.B) {
	pt := make([]byte, 64<<20)
	obj := seal(b, Keys{Current: keyA}, pt, 64)
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		r, _ := NewReader(bytes.NewReader(obj), Keys{Current: keyA})
		_, _ = io.Copy(io.Discard, r)
	}
}
