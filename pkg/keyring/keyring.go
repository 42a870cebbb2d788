// Package keyring holds all RPC key material handling: Trove's AES-256-CBC primitive (byte-compatible with
// trove.common.crypto_utils), per-instance key generation, wrapping of instance keys under
// inst_rpc_key_encr_key, the authenticated AEAD envelope primitive, current+previous key sets for rotation,
// and detection of Trove's public default keys.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// Trove's publicly known default keys (trove/common/cfg.py). A deployment using them has no secrecy.
const (
	DefaultTaskmanagerKey  = "bzH6y0SGmjuoY0FNSTptrhgieGXNDX6PIhvz"
	DefaultInstanceWrapKey = "emYjgHFqfXNB1NGehAFIUeoyw4V4XwWHEaKP"
)

// IsTroveDefault reports whether k is one of Trove's published default keys.
func IsTroveDefault(k string) bool {
	return k == DefaultTaskmanagerKey || k == DefaultInstanceWrapKey
}

// ErrDecrypt is returned for any ciphertext that cannot be decoded or decrypted.
var ErrDecrypt = errors.New("keyring: cannot decrypt")

// troveKey derives Trove's AES key: the ASCII bytes of the lowercase hex MD5 of the key string.
func troveKey(keystr string) []byte {
	sum := md5.Sum([]byte(keystr))
	out := make([]byte, hex.EncodedLen(len(sum)))
	hex.Encode(out, sum[:])
	return out
}

// TroveEncrypt is crypto_utils.encode(encrypt(data, keystr)): base64(IV ‖ AES-256-CBC(PKCS#7(data))).
// ivSource supplies the 16-byte IV; nil means crypto/rand (tests inject fixed IVs).
func TroveEncrypt(keystr string, data []byte, ivSource io.Reader) (string, error) {
	if ivSource == nil {
		ivSource = rand.Reader
	}
	block, err := aes.NewCipher(troveKey(keystr))
	if err != nil {
		return "", err
	}
	n := aes.BlockSize - len(data)%aes.BlockSize
	buf := make([]byte, aes.BlockSize+len(data)+n)
	if _, err := io.ReadFull(ivSource, buf[:aes.BlockSize]); err != nil {
		return "", fmt.Errorf("keyring: reading IV: %w", err)
	}
	copy(buf[aes.BlockSize:], data)
	for i := aes.BlockSize + len(data); i < len(buf); i++ {
		buf[i] = byte(n)
	}
	cipher.NewCBCEncrypter(block, buf[:aes.BlockSize]).CryptBlocks(buf[aes.BlockSize:], buf[aes.BlockSize:])
	return base64.StdEncoding.EncodeToString(buf), nil
}

// TroveDecrypt reverses TroveEncrypt. Unlike Trove it validates the PKCS#7 padding, so most tampering and every
// wrong key (with overwhelming probability... ~1/256 of wrong keys still pass the padding check) is detected
// here; callers that need integrity must use the AEAD envelope.
func TroveDecrypt(keystr, b64 string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) < 2*aes.BlockSize || len(raw)%aes.BlockSize != 0 {
		return nil, ErrDecrypt
	}
	block, err := aes.NewCipher(troveKey(keystr))
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(raw)-aes.BlockSize)
	cipher.NewCBCDecrypter(block, raw[:aes.BlockSize]).CryptBlocks(out, raw[aes.BlockSize:])
	n := int(out[len(out)-1])
	if n < 1 || n > aes.BlockSize {
		return nil, ErrDecrypt
	}
	for _, b := range out[len(out)-n:] {
		if int(b) != n {
			return nil, ErrDecrypt
		}
	}
	return out[:len(out)-n], nil
}

const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewInstanceKey returns a fresh 32-character [A-Za-z0-9] key drawn from crypto/rand (Trove's shape, so Python
// guests accept it, but from a CSPRNG and without modulo bias).
func NewInstanceKey() (string, error) {
	out := make([]byte, 32)
	var b [1]byte
	for i := 0; i < len(out); {
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		if int(b[0]) >= 256-256%len(keyAlphabet) {
			continue // reject to keep the distribution uniform
		}
		out[i] = keyAlphabet[int(b[0])%len(keyAlphabet)]
		i++
	}
	return string(out), nil
}

// Wrap encrypts an instance key under inst_rpc_key_encr_key for instances.encrypted_key (88 base64 chars).
func Wrap(wrapKey, instanceKey string) (string, error) {
	return TroveEncrypt(wrapKey, []byte(instanceKey), nil)
}

// Unwrap decrypts an instances.encrypted_key value. An empty value means a legacy plaintext instance and
// returns "" without error.
func Unwrap(wrapKey, encrypted string) (string, error) {
	if encrypted == "" {
		return "", nil
	}
	k, err := TroveDecrypt(wrapKey, encrypted)
	if err != nil {
		return "", fmt.Errorf("keyring: unwrapping instance key: %w", err)
	}
	return string(k), nil
}

// KeySet is a current key plus, during a rotation, the previous key accepted until PreviousUntil. Senders
// always use Current; receivers try Current then Previous.
type KeySet struct {
	Current       string
	Previous      string
	PreviousUntil time.Time
}

// Single returns a KeySet without a previous key.
func Single(k string) KeySet { return KeySet{Current: k} }

// Empty reports whether the set holds no key (plaintext peer).
func (s KeySet) Empty() bool { return s.Current == "" }

// Accepted returns the keys a receiver may try at time now, current first.
func (s KeySet) Accepted(now time.Time) []string {
	if s.Current == "" {
		return nil
	}
	if s.Previous != "" && s.Previous != s.Current && now.Before(s.PreviousUntil) {
		return []string{s.Current, s.Previous}
	}
	return []string{s.Current}
}
