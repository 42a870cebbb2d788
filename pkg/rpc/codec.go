package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/trove-go/trove/pkg/keyring"
)

// Meta describes the message a codec seals or opens; AEAD binds it into the authenticated data.
type Meta struct {
	Topic  string // target topic (without server)
	Method string
	MsgID  string // calls only
	ReplyQ string // calls only
}

// Origin is what a codec established about a received request: the authenticated sender instance (if the
// format authenticates one) and, unexported, the key that opened it, so the reply is sealed with the same key
// (during a rotation the peer may only hold the previous one).
type Origin struct {
	InstanceID string
	key        string
}

// Codec is an envelope format: it turns plaintext arguments (name → JSON) and the context (JSON object) into
// what travels in "args" and the _context_* keys, and back. Decode returns a *RejectError for messages that
// must not be accepted, and the authenticated sender instance id when the format establishes one.
type Codec interface {
	EncodeRequest(m Meta, args map[string]json.RawMessage, rc json.RawMessage) (wireArgs, wireCtx map[string]json.RawMessage, err error)
	DecodeRequest(ctx context.Context, m Meta, wireArgs, wireCtx map[string]json.RawMessage) (args map[string]json.RawMessage, rc json.RawMessage, origin Origin, err error)
	EncodeResult(m Meta, origin Origin, result json.RawMessage) (json.RawMessage, error)
	DecodeResult(m Meta, wire json.RawMessage) (json.RawMessage, error)
}

// Envelope is the recorded envelope format of a peer.
type Envelope string

const (
	EnvelopeNone  Envelope = ""      // plaintext (legacy instance without a key)
	EnvelopeTrove Envelope = "trove" // Trove's AES-CBC SecureSerializer (Python guests)
	EnvelopeAEAD  Envelope = "aead"  // our authenticated envelope (Go guests)
)

// ParseEnvelope reads guest_info.conf's instance_rpc_envelope ("" means trove when a key is set).
func ParseEnvelope(s string, haveKey bool) (Envelope, error) {
	switch Envelope(s) {
	case EnvelopeTrove, EnvelopeAEAD:
		if !haveKey {
			return EnvelopeNone, fmt.Errorf("rpc: envelope %q needs a key", s)
		}
		return Envelope(s), nil
	case EnvelopeNone:
		if haveKey {
			return EnvelopeTrove, nil
		}
		return EnvelopeNone, nil
	}
	return EnvelopeNone, fmt.Errorf("rpc: unknown envelope %q (want trove or aead)", s)
}

// ---- plaintext ----

type plainCodec struct{}

// PlainCodec sends and accepts plaintext arguments and a flattened context (no secure RPC).
func PlainCodec() Codec { return plainCodec{} }

func flattenContext(rc json.RawMessage) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(rc, &m); err != nil {
		return nil, fmt.Errorf("rpc: context is not an object: %w", err)
	}
	return m, nil
}

func (plainCodec) EncodeRequest(_ Meta, args map[string]json.RawMessage, rc json.RawMessage) (map[string]json.RawMessage, map[string]json.RawMessage, error) {
	c, err := flattenContext(rc)
	return args, c, err
}

func (plainCodec) DecodeRequest(_ context.Context, _ Meta, args, wctx map[string]json.RawMessage) (map[string]json.RawMessage, json.RawMessage, Origin, error) {
	rc, err := json.Marshal(wctx)
	return args, rc, Origin{}, err
}

func (plainCodec) EncodeResult(_ Meta, _ Origin, r json.RawMessage) (json.RawMessage, error) {
	return r, nil
}
func (plainCodec) DecodeResult(_ Meta, r json.RawMessage) (json.RawMessage, error) { return r, nil }

// ---- Trove SecureSerializer ----

// TroveCodecOf is Trove's SecureSerializer with a key set: every argument and the result are
// base64(AES-CBC(json)) strings and the context travels as _context_context. Unlike Trove, a receiver never
// accepts plaintext or undecryptable values. With an empty key set it is PlainCodec.
type TroveCodecOf struct {
	Keys keyring.KeySet
	IV   io.Reader // nil: crypto/rand (tests inject fixed IVs)
	Now  func() time.Time
}

// TroveCodec is Trove's SecureSerializer(key); key "" is plaintext.
func TroveCodec(key string) Codec { return TroveCodecKeys(keyring.Single(key)) }

// TroveCodecKeys is TroveCodec accepting a previous key during rotation.
func TroveCodecKeys(keys keyring.KeySet) Codec {
	if keys.Empty() {
		return PlainCodec()
	}
	return &TroveCodecOf{Keys: keys}
}

func (c *TroveCodecOf) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// pythonJSON re-spaces compact JSON the way Python's json.dumps does (", " and ": "), so ciphertexts match
// Trove's byte for byte for the same IV.
func pythonJSON(raw []byte) []byte {
	var compact bytes.Buffer
	if json.Compact(&compact, raw) != nil {
		return raw
	}
	in := compact.Bytes()
	out := make([]byte, 0, len(in)+len(in)/8)
	inStr, esc := false, false
	for _, b := range in {
		out = append(out, b)
		switch {
		case inStr && esc:
			esc = false
		case inStr && b == '\\':
			esc = true
		case b == '"':
			inStr = !inStr
		case !inStr && (b == ',' || b == ':'):
			out = append(out, ' ')
		}
	}
	return out
}

func troveSeal(key string, iv io.Reader, plain json.RawMessage) (json.RawMessage, error) {
	if len(plain) == 0 {
		plain = json.RawMessage("null")
	}
	s, err := keyring.TroveEncrypt(key, pythonJSON(plain), iv)
	if err != nil {
		return nil, err
	}
	return jstr(s), nil
}

// troveOpen decrypts one wire value that must be a Trove ciphertext string holding JSON; it returns the key
// that worked.
func troveOpen(keys []string, wire json.RawMessage) (json.RawMessage, string, error) {
	var s string
	if err := json.Unmarshal(wire, &s); err != nil {
		return nil, "", reject(RejectPlaintext, "value is not an encrypted string")
	}
	for _, k := range keys {
		pt, err := keyring.TroveDecrypt(k, s)
		if err == nil && json.Valid(pt) {
			return pt, k, nil
		}
	}
	return nil, "", reject(RejectDecrypt, "value does not decrypt with the peer's key")
}

func (c *TroveCodecOf) EncodeRequest(_ Meta, args map[string]json.RawMessage, rc json.RawMessage) (map[string]json.RawMessage, map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(args))
	for k, v := range args {
		e, err := troveSeal(c.Keys.Current, c.IV, v)
		if err != nil {
			return nil, nil, err
		}
		out[k] = e
	}
	ctx, err := troveSeal(c.Keys.Current, c.IV, rc)
	if err != nil {
		return nil, nil, err
	}
	return out, map[string]json.RawMessage{"context": ctx}, nil
}

func (c *TroveCodecOf) DecodeRequest(_ context.Context, _ Meta, wargs, wctx map[string]json.RawMessage) (map[string]json.RawMessage, json.RawMessage, Origin, error) {
	args, rc, key, err := troveOpenRequest(c.Keys.Accepted(c.now()), wargs, wctx, troveOpen)
	return args, rc, Origin{key: key}, err
}

// troveOpenRequest decrypts the context and every argument (with open) using the key that opened the context.
func troveOpenRequest(keys []string, wargs, wctx map[string]json.RawMessage,
	open func([]string, json.RawMessage) (json.RawMessage, string, error)) (map[string]json.RawMessage, json.RawMessage, string, error) {
	wc, ok := wctx["context"]
	if !ok {
		return nil, nil, "", reject(RejectPlaintext, "plaintext context from a keyed peer")
	}
	rc, key, err := troveOpen(keys, wc)
	if err != nil {
		return nil, nil, "", err
	}
	args := make(map[string]json.RawMessage, len(wargs))
	for k, v := range wargs {
		if args[k], _, err = open([]string{key}, v); err != nil {
			return nil, nil, "", fmt.Errorf("argument %s: %w", k, err)
		}
	}
	return args, rc, key, nil
}

func (c *TroveCodecOf) EncodeResult(_ Meta, o Origin, r json.RawMessage) (json.RawMessage, error) {
	key := o.key
	if key == "" {
		key = c.Keys.Current
	}
	return troveSeal(key, c.IV, r)
}

func (c *TroveCodecOf) DecodeResult(_ Meta, r json.RawMessage) (json.RawMessage, error) {
	pt, _, err := troveOpen(c.Keys.Accepted(c.now()), r)
	return pt, err
}

// GuestCodec picks the codec for traffic on guestagent.<instanceID> (control plane client and guest server)
// from the envelope recorded for the instance: none → plaintext, trove → TroveCodecKeys, aead → AEADCodec.
func GuestCodec(instanceID string, keys keyring.KeySet, env Envelope) (Codec, error) {
	switch env {
	case EnvelopeNone:
		if !keys.Empty() {
			return nil, fmt.Errorf("rpc: instance %s has a key but no envelope format", instanceID)
		}
		return PlainCodec(), nil
	case EnvelopeTrove:
		if keys.Empty() {
			return nil, fmt.Errorf("rpc: instance %s: envelope trove without a key", instanceID)
		}
		return TroveCodecKeys(keys), nil
	case EnvelopeAEAD:
		if keys.Empty() {
			return nil, fmt.Errorf("rpc: instance %s: envelope aead without a key", instanceID)
		}
		return AEADCodec(keys, instanceID), nil
	}
	return nil, fmt.Errorf("rpc: unknown envelope %q", env)
}
