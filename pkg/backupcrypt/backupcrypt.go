// Package backupcrypt encrypts backup objects while they stream: AES-256-GCM in authenticated chunks (the STREAM
// construction as age uses it: a fresh random data key per object, per-chunk nonce = 11-byte big-endian counter ‖
// a last-chunk flag byte, so reordered, dropped, duplicated or truncated chunks fail to authenticate), the data
// key wrapped by a key-encryption key (KEK) from the configuration — a current key for new backups and any number
// of previous keys still accepted on restore, so rotating the KEK keeps old backups restorable — and both the
// wrapped key and a header at the head of the object itself. A Reader releases a chunk's bytes only after the
// chunk authenticated. Objects without the header (backups made before encryption) are recognised by Encrypted.
//
// Object layout (all integers big-endian):
//
//	magic "TROVEBK1" (8) ‖ version 1 (1) ‖ chunk size (4) ‖ KEK id (8) ‖ wrapped data key (12 nonce ‖ 32 ‖ 16 tag)
//	‖ chunk 0 ‖ chunk 1 ‖ … ‖ last chunk            chunk = AES-256-GCM(data key, nonce(i, last), plaintext)
//
// The wrapped key is sealed with the header before it as associated data, so no header byte can change
// undetected. Every chunk but the last holds exactly chunk-size bytes of plaintext; the last holds 0 … chunk size.
package backupcrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/trove-go/trove/pkg/config"
)

// Magic opens every encrypted backup object.
const Magic = "TROVEBK1"

const (
	version    = 1
	chunkSize  = 64 << 10
	keySize    = 32
	nonceSize  = 12
	tagSize    = 16
	kekIDSize  = 8
	prefixSize = len(Magic) + 1 + 4 + kekIDSize
	wrappedLen = nonceSize + keySize + tagSize
	headerSize = prefixSize + wrappedLen
	maxChunk   = 16 << 20 // refuse absurd chunk sizes from a damaged header before allocating
)

// TroveDefaultKey is Trove's published default backup_aes_cbc_key: refused as a KEK (it protects nothing).
const TroveDefaultKey = "default_aes_cbc_key"

// Errors a Reader returns; each is wrapped with the detail (chunk number, key id).
var (
	// ErrCorrupt: a header or chunk does not authenticate — the object was changed (or cut inside a chunk).
	ErrCorrupt = errors.New("backupcrypt: the encrypted object does not authenticate (changed, damaged or cut short)")
	// ErrTruncated: the object ends before its last chunk.
	ErrTruncated = errors.New("backupcrypt: the encrypted object is truncated")
	// ErrUnknownKey: the data key was wrapped by a KEK that is neither the current nor a previous key.
	ErrUnknownKey = errors.New("backupcrypt: the object's key-encryption key is not configured")
)

// Keys are the configured key-encryption keys: Current wraps new backups' data keys (empty = encryption off),
// Previous are still accepted on restore after a rotation. They are secrets: never log them (KeyID is safe).
type Keys struct {
	Current  string
	Previous []string
}

// Enabled reports whether new backups are encrypted.
func (k Keys) Enabled() bool { return k.Current != "" }

// FromConfig reads [backup_encryption] key and previous_keys (a comma-separated list). Neither has a default.
func FromConfig(f *config.File) (Keys, error) {
	k := Keys{Current: f.String("backup_encryption", "key", ""), Previous: f.List("backup_encryption", "previous_keys", nil)}
	if err := f.Err(); err != nil {
		return Keys{}, err
	}
	return k, k.Validate()
}

// Validate refuses short keys and Trove's published default.
func (k Keys) Validate() error {
	var errs []error
	check := func(name, v string) {
		switch {
		case v == TroveDefaultKey:
			errs = append(errs, fmt.Errorf("[backup_encryption] %s is Trove's published default key: generate one (openssl rand -hex 32)", name))
		case len(v) < 16:
			errs = append(errs, fmt.Errorf("[backup_encryption] %s is shorter than 16 characters: generate one (openssl rand -hex 32)", name))
		}
	}
	if k.Current != "" {
		check("key", k.Current)
	}
	for _, p := range k.Previous {
		check("previous_keys", p)
	}
	if k.Current == "" && len(k.Previous) > 0 {
		errs = append(errs, errors.New("[backup_encryption] previous_keys is set but key is not: new backups would not be encrypted"))
	}
	return errors.Join(errs...)
}

// kek derives the AES-256 key-encryption key and its public id from a configured key string with HKDF-SHA256.
func kek(keystr string) (key []byte, id [kekIDSize]byte, err error) {
	key, err = hkdf.Key(sha256.New, []byte(keystr), []byte("trove-go"), "trove-go backup kek v1", keySize)
	if err != nil {
		return nil, id, err
	}
	raw, err := hkdf.Key(sha256.New, []byte(keystr), []byte("trove-go"), "trove-go backup kek id v1", kekIDSize)
	copy(id[:], raw)
	return key, id, err
}

// KeyID is the public id of a key string as headers carry it (hex): safe to log, reveals nothing of the key.
func KeyID(keystr string) string {
	_, id, _ := kek(keystr)
	return hex.EncodeToString(id[:])
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Encrypted reports whether an object starting with head (at least len(Magic) bytes) is an encrypted backup.
func Encrypted(head []byte) bool { return bytes.HasPrefix(head, []byte(Magic)) }

// nonce writes chunk i's nonce: 11-byte big-endian counter ‖ 1 for the last chunk, 0 otherwise.
func nonce(dst *[nonceSize]byte, i uint64, last bool) {
	*dst = [nonceSize]byte{}
	binary.BigEndian.PutUint64(dst[3:11], i)
	if last {
		dst[11] = 1
	}
}

// Writer encrypts what is written to it onto the underlying writer; Close writes the last chunk (it does not
// close the underlying writer). Without Close the object is truncated and will not restore.
type Writer struct {
	w      io.Writer
	aead   cipher.AEAD
	buf    []byte // plaintext of the chunk being filled, then its ciphertext
	n      int
	i      uint64
	nonce  [nonceSize]byte
	err    error
	closed bool
}

// NewWriter writes the header (a fresh random data key wrapped by keys.Current) to w and returns the Writer.
func NewWriter(w io.Writer, keys Keys) (*Writer, error) {
	if !keys.Enabled() {
		return nil, errors.New("backupcrypt: no key-encryption key configured")
	}
	kk, id, err := kek(keys.Current)
	if err != nil {
		return nil, err
	}
	dataKey := make([]byte, keySize)
	hdr := make([]byte, prefixSize+nonceSize, headerSize)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, err
	}
	if _, err := rand.Read(hdr[prefixSize:]); err != nil {
		return nil, err
	}
	copy(hdr, Magic)
	hdr[len(Magic)] = version
	binary.BigEndian.PutUint32(hdr[len(Magic)+1:], chunkSize)
	copy(hdr[len(Magic)+5:], id[:])
	kg, err := newGCM(kk)
	if err != nil {
		return nil, err
	}
	hdr = kg.Seal(hdr, hdr[prefixSize:prefixSize+nonceSize], dataKey, hdr[:prefixSize])
	aead, err := newGCM(dataKey)
	clear(dataKey)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	return &Writer{w: w, aead: aead, buf: make([]byte, chunkSize+tagSize)}, nil
}

// Write buffers p and writes every full chunk — except the newest, which may be the last — once more follows.
func (e *Writer) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.closed {
		return 0, errors.New("backupcrypt: write after Close")
	}
	total := len(p)
	for len(p) > 0 {
		if e.n == chunkSize {
			if e.err = e.flush(false); e.err != nil {
				return total - len(p), e.err
			}
		}
		c := copy(e.buf[e.n:chunkSize], p)
		e.n += c
		p = p[c:]
	}
	return total, nil
}

func (e *Writer) flush(last bool) error {
	nonce(&e.nonce, e.i, last)
	ct := e.aead.Seal(e.buf[:0], e.nonce[:], e.buf[:e.n], nil)
	e.i++
	e.n = 0
	_, err := e.w.Write(ct)
	return err
}

// Close seals and writes the last chunk.
func (e *Writer) Close() error {
	if e.err != nil || e.closed {
		return e.err
	}
	e.closed = true
	e.err = e.flush(true)
	return e.err
}

// Reader decrypts an encrypted backup object, releasing each chunk's plaintext only after it authenticated, and
// failing with ErrTruncated when the object ends before its last chunk or ErrCorrupt when anything follows it.
type Reader struct {
	r     io.Reader
	aead  cipher.AEAD
	KeyID string // hex id of the KEK that unwrapped the data key
	csize int
	buf   []byte // ciphertext of chunk i plus one read-ahead byte
	have  int    // bytes of buf filled
	pbuf  []byte // plaintext of chunk i
	plain []byte // authenticated plaintext not yet returned (in pbuf)
	i     uint64
	nonce [nonceSize]byte
	done  bool
	err   error
}

// NewReader reads and authenticates the header from r and unwraps the data key with the first of keys.Current
// and keys.Previous whose id the header names.
func NewReader(r io.Reader, keys Keys) (*Reader, error) {
	hdr := make([]byte, headerSize)
	if n, err := io.ReadFull(r, hdr); err != nil {
		if !strings.HasPrefix(string(hdr[:n]), Magic) && !strings.HasPrefix(Magic, string(hdr[:n])) {
			return nil, errors.New("backupcrypt: not an encrypted backup")
		}
		return nil, fmt.Errorf("%w: the header is incomplete", ErrTruncated)
	}
	if !Encrypted(hdr) {
		return nil, errors.New("backupcrypt: not an encrypted backup")
	}
	if hdr[len(Magic)] != version {
		return nil, fmt.Errorf("backupcrypt: unknown format version %d", hdr[len(Magic)])
	}
	csize := int(binary.BigEndian.Uint32(hdr[len(Magic)+1:]))
	if csize <= 0 || csize > maxChunk {
		return nil, fmt.Errorf("%w: chunk size %d in the header", ErrCorrupt, csize)
	}
	wantID := hdr[len(Magic)+5 : prefixSize]
	for _, ks := range append([]string{keys.Current}, keys.Previous...) {
		if ks == "" {
			continue
		}
		kk, id, err := kek(ks)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(id[:], wantID) {
			continue
		}
		kg, err := newGCM(kk)
		if err != nil {
			return nil, err
		}
		dataKey, err := kg.Open(nil, hdr[prefixSize:prefixSize+nonceSize], hdr[prefixSize+nonceSize:], hdr[:prefixSize])
		if err != nil {
			return nil, fmt.Errorf("%w: the header (wrapped data key)", ErrCorrupt)
		}
		aead, err := newGCM(dataKey)
		clear(dataKey)
		if err != nil {
			return nil, err
		}
		return &Reader{r: r, aead: aead, KeyID: hex.EncodeToString(id[:]), csize: csize, buf: make([]byte, csize+tagSize+1), pbuf: make([]byte, 0, csize)}, nil
	}
	return nil, fmt.Errorf("%w: it names key id %s (configured: %s)", ErrUnknownKey, hex.EncodeToString(wantID), keyIDs(keys))
}

func keyIDs(k Keys) string {
	var ids []string
	for _, ks := range append([]string{k.Current}, k.Previous...) {
		if ks != "" {
			ids = append(ids, KeyID(ks))
		}
	}
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// Read returns authenticated plaintext.
func (d *Reader) Read(p []byte) (int, error) {
	for len(d.plain) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		if d.done {
			return 0, io.EOF
		}
		d.err = d.next()
	}
	n := copy(p, d.plain)
	d.plain = d.plain[n:]
	return n, nil
}

// next reads and opens one chunk. A full chunk followed by at least one more byte is not the last; anything
// shorter, or full at the end of the object, must be the last.
func (d *Reader) next() error {
	full := d.csize + tagSize
	n, err := io.ReadFull(d.r, d.buf[d.have:])
	d.have += n
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return err
	}
	last := d.have <= full
	clen := min(d.have, full)
	if clen < tagSize {
		return fmt.Errorf("%w: chunk %d is missing", ErrTruncated, d.i)
	}
	nonce(&d.nonce, d.i, last)
	pt, oerr := d.aead.Open(d.pbuf[:0], d.nonce[:], d.buf[:clen], nil)
	if oerr != nil {
		if last {
			// either changed, or the object was cut where a chunk boundary ends: a non-last chunk sealed
			// as non-last does not open as last
			nonce(&d.nonce, d.i, false)
			if _, e := d.aead.Open(nil, d.nonce[:], d.buf[:clen], nil); e == nil {
				return fmt.Errorf("%w: it ends after chunk %d, which is not the last", ErrTruncated, d.i)
			}
		}
		return fmt.Errorf("%w: chunk %d", ErrCorrupt, d.i)
	}
	d.plain = pt
	d.i++
	if last {
		d.done = true
		d.have = 0
		return nil
	}
	// the read-ahead byte starts the next chunk
	d.buf[0] = d.buf[full]
	d.have = 1
	return nil
}
