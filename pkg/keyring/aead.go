package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"sync"
)

// NonceSize is the AES-GCM nonce length carried in front of every sealed AEAD message.
const NonceSize = 12

const aeadInfo = "trove-go rpc aead v1"

// aeadKey derives the AES-256-GCM key from an instance key string with HKDF-SHA256.
func aeadKey(keystr string) ([]byte, error) {
	return hkdf.Key(sha256.New, []byte(keystr), []byte("trove-go"), aeadInfo, 32)
}

// gcms caches the AES-GCM instance per key (HKDF + key schedule per message would dominate small messages).
// Bounded: cleared when it grows past gcmLimit keys.
var (
	gcmMu    sync.Mutex
	gcms     = map[string]cipher.AEAD{}
	gcmLimit = 4096
)

func gcm(keystr string) (cipher.AEAD, error) {
	gcmMu.Lock()
	g, ok := gcms[keystr]
	gcmMu.Unlock()
	if ok {
		return g, nil
	}
	g, err := newGCM(keystr)
	if err != nil {
		return nil, err
	}
	gcmMu.Lock()
	if len(gcms) >= gcmLimit {
		clear(gcms)
	}
	gcms[keystr] = g
	gcmMu.Unlock()
	return g, nil
}

func newGCM(keystr string) (cipher.AEAD, error) {
	k, err := aeadKey(keystr)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts and authenticates plaintext with aad under the HKDF-derived key of keystr; the result is
// nonce ‖ ciphertext ‖ tag. nonceSource nil means crypto/rand.
func Seal(keystr string, plaintext, aad []byte, nonceSource io.Reader) ([]byte, error) {
	if nonceSource == nil {
		nonceSource = rand.Reader
	}
	g, err := gcm(keystr)
	if err != nil {
		return nil, err
	}
	out := make([]byte, NonceSize, NonceSize+len(plaintext)+g.Overhead())
	if _, err := io.ReadFull(nonceSource, out); err != nil {
		return nil, fmt.Errorf("keyring: reading nonce: %w", err)
	}
	return g.Seal(out, out, plaintext, aad), nil
}

// Open verifies and decrypts a Seal output with the first key of keys that authenticates it.
func Open(keys []string, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < NonceSize+16 {
		return nil, ErrDecrypt
	}
	for _, k := range keys {
		g, err := gcm(k)
		if err != nil {
			return nil, err
		}
		if pt, err := g.Open(nil, sealed[:NonceSize], sealed[NonceSize:], aad); err == nil {
			return pt, nil
		}
	}
	return nil, ErrDecrypt
}
