package keyring

import (
	"bytes"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"time"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTroveVectors checks every worked vector of rpc.md §C.5 in both directions.
func TestTroveVectors(t *testing.T) {
	cases := []struct {
		name, key, aesKey, iv, plain, want string
	}{
		{"taskmanager default, JSON string", DefaultTaskmanagerKey, "b1d3265cbd11984d9e1852430a4337a4",
			"000102030405060708090a0b0c0d0e0f", `"5f1c3a2e-8d4b-4c1e-9a7f-0b2c3d4e5f60"`,
			"AAECAwQFBgcICQoLDA0ODwaACrPU5c9TLIeAa+Nk2Crrgk2xsFe5ptSRc9HsoxLLGkkxwf6IzNJjPl95DsbozA=="},
		{"context dict", "abcdefghijklmnopqrstuvwxyz012345", "357e82db934fc45f4a25b4b83dc8bd19",
			"f0e1d2c3b4a5968778695a4b3c2d1e0f", `{"user": "u1", "project_id": "p1", "is_admin": false}`,
			"8OHSw7Sllod4aVpLPC0eD4F/pReIJdacxrNkmkKVZMhPF8epunCf2sdO5EQaR8YSollaYg7DXfclLEeSHC3hMu8Je23ix7Z8VZhuHp0hhfc="},
		{"wrapped instance key", DefaultInstanceWrapKey, "4dec7b30f9c040d3e4768efc467fade1",
			"00112233445566778899aabbccddeeff", "Q7dX2mLp9RtZ4vKc8NwB1sYh6JfE3gUa",
			"ABEiM0RVZneImaq7zN3u/96VXm7oYQq1XsCJdR++4xy9Ds3tGjMbXfsqH/enjbnX/uLNYFaZgnl8KSp4EWCe/g=="},
		{"aligned input gets a full pad block", DefaultTaskmanagerKey, "b1d3265cbd11984d9e1852430a4337a4",
			"000102030405060708090a0b0c0d0e0f", "0123456789abcdef",
			"AAECAwQFBgcICQoLDA0OD4m3jdo9L7t8AA5LaDZFf7MeId4UWGAZkPz6+D2+vkjG"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(troveKey(c.key)); got != c.aesKey {
				t.Fatalf("AES key = %s, want %s", got, c.aesKey)
			}
			got, err := TroveEncrypt(c.key, []byte(c.plain), bytes.NewReader(mustHex(t, c.iv)))
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("encrypt = %s\nwant      %s", got, c.want)
			}
			pt, err := TroveDecrypt(c.key, c.want)
			if err != nil || string(pt) != c.plain {
				t.Fatalf("decrypt = %q, %v; want %q", pt, err, c.plain)
			}
		})
	}
}

func TestWrapUnwrap(t *testing.T) {
	// vector #3 is the encrypted_key column of an instance under the default inst_rpc_key_encr_key
	const col = "ABEiM0RVZneImaq7zN3u/96VXm7oYQq1XsCJdR++4xy9Ds3tGjMbXfsqH/enjbnX/uLNYFaZgnl8KSp4EWCe/g=="
	k, err := Unwrap(DefaultInstanceWrapKey, col)
	if err != nil || k != "Q7dX2mLp9RtZ4vKc8NwB1sYh6JfE3gUa" {
		t.Fatalf("Unwrap = %q, %v", k, err)
	}
	w, err := Wrap("another wrap key", k)
	if err != nil || len(w) != 88 {
		t.Fatalf("Wrap = %q (%d chars), %v; want 88 chars", w, len(w), err)
	}
	if back, err := Unwrap("another wrap key", w); err != nil || back != k {
		t.Fatalf("round trip = %q, %v", back, err)
	}
	if _, err := Unwrap("wrong key", w); err == nil {
		t.Fatal("Unwrap with a wrong key succeeded")
	}
	if k, err := Unwrap(DefaultInstanceWrapKey, ""); err != nil || k != "" {
		t.Fatalf("Unwrap of NULL column = %q, %v; want legacy plaintext", k, err)
	}
}

func TestTroveDecryptRejects(t *testing.T) {
	good, _ := TroveEncrypt("k", []byte(`{"a": 1}`), nil)
	for name, in := range map[string]string{
		"not base64":  "%%%",
		"too short":   "AAECAwQFBgcICQoLDA0ODw==",
		"not aligned": good[:len(good)-4] + "AA==",
		"empty":       "",
	} {
		if _, err := TroveDecrypt("k", in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNewInstanceKey(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9]{32}$`)
	seen := map[string]bool{}
	for range 100 {
		k, err := NewInstanceKey()
		if err != nil || !re.MatchString(k) {
			t.Fatalf("NewInstanceKey = %q, %v", k, err)
		}
		if seen[k] {
			t.Fatalf("duplicate key %q", k)
		}
		seen[k] = true
	}
}

func TestIsTroveDefault(t *testing.T) {
	for k, want := range map[string]bool{
		DefaultTaskmanagerKey: true, DefaultInstanceWrapKey: true, "": false,
		strings.ToLower(DefaultTaskmanagerKey): false, "Q7dX2mLp9RtZ4vKc8NwB1sYh6JfE3gUa": false,
	} {
		if IsTroveDefault(k) != want {
			t.Errorf("IsTroveDefault(%q) = %v", k, !want)
		}
	}
}

func TestKeySetRotation(t *testing.T) {
	deadline := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	s := KeySet{Current: "new", Previous: "old", PreviousUntil: deadline}
	cases := []struct {
		now  time.Time
		want []string
	}{
		{deadline.Add(-time.Hour), []string{"new", "old"}},
		{deadline, []string{"new"}},
		{deadline.Add(time.Hour), []string{"new"}},
	}
	for _, c := range cases {
		if got := s.Accepted(c.now); strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("Accepted(%s) = %v, want %v", c.now, got, c.want)
		}
	}
	if (KeySet{}).Accepted(deadline) != nil || !(KeySet{}).Empty() {
		t.Error("empty key set must accept nothing")
	}
	// a message sealed with the previous key opens until the deadline only
	sealed, err := Seal("old", []byte("x"), []byte("aad"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(s.Accepted(deadline.Add(-time.Minute)), sealed, []byte("aad")); err != nil {
		t.Errorf("previous key rejected before its deadline: %v", err)
	}
	if _, err := Open(s.Accepted(deadline.Add(time.Minute)), sealed, []byte("aad")); err == nil {
		t.Error("previous key accepted after its deadline")
	}
}

func TestAEAD(t *testing.T) {
	nonce := bytes.Repeat([]byte{7}, NonceSize)
	sealed, err := Seal("Q7dX2mLp9RtZ4vKc8NwB1sYh6JfE3gUa", []byte(`{"a":1}`), []byte("aad"), bytes.NewReader(nonce))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sealed[:NonceSize], nonce) {
		t.Fatal("nonce not prefixed")
	}
	if pt, err := Open([]string{"Q7dX2mLp9RtZ4vKc8NwB1sYh6JfE3gUa"}, sealed, []byte("aad")); err != nil || string(pt) != `{"a":1}` {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	tampered := bytes.Clone(sealed)
	tampered[NonceSize] ^= 1
	for name, c := range map[string]struct {
		keys   []string
		sealed []byte
		aad    string
	}{
		"tampered ciphertext": {[]string{"Q7dX2mLp9RtZ4vKc8NwB1sYh6JfE3gUa"}, tampered, "aad"},
		"wrong key":           {[]string{"wrong"}, sealed, "aad"},
		"other aad":           {[]string{"Q7dX2mLp9RtZ4vKc8NwB1sYh6JfE3gUa"}, sealed, "aaD"},
		"truncated":           {[]string{"Q7dX2mLp9RtZ4vKc8NwB1sYh6JfE3gUa"}, sealed[:10], "aad"},
	} {
		if _, err := Open(c.keys, c.sealed, []byte(c.aad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
