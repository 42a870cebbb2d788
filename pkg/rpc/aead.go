package rpc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/trove-go/trove/pkg/keyring"
)

// DefaultAEADWindow is the accepted clock skew (±) of AEAD message timestamps.
const DefaultAEADWindow = 5 * time.Minute

// AEADCodecOf is our authenticated envelope, used between our services and our Go guests. The arguments and
// the context are sealed together with AES-256-GCM under an HKDF-SHA256 key derived from the instance key; the
// additional data binds the instance id, topic, method, call correlation and a timestamp. Receivers reject
// timestamps outside ±Window and nonces already seen within the window. On the wire the message keeps oslo's
// shape: empty "args" and one context key, _context_aead = {"v":1,"iid":…,"ts":…,"box":base64(nonce‖ct)}.
type AEADCodecOf struct {
	Keys       keyring.KeySet
	InstanceID string
	Window     time.Duration    // 0: DefaultAEADWindow
	Now        func() time.Time // nil: time.Now
	Rand       io.Reader        // nil: crypto/rand
	seenOnce   sync.Once
	seen       *nonceCache
}

func (c *AEADCodecOf) cache() *nonceCache {
	c.seenOnce.Do(func() {
		if c.seen == nil {
			c.seen = &nonceCache{}
		}
	})
	return c.seen
}

// WithKeys returns a codec for the same instance with a new key set (rotation) that shares this codec's
// replay cache, so messages accepted before the switch cannot be replayed after it.
func (c *AEADCodecOf) WithKeys(keys keyring.KeySet) *AEADCodecOf {
	return &AEADCodecOf{Keys: keys, InstanceID: c.InstanceID, Window: c.Window, Now: c.Now, Rand: c.Rand, seen: c.cache()}
}

// AEADCodec is the AEAD envelope for the instance whose key set is keys (control plane ↔ that guest).
func AEADCodec(keys keyring.KeySet, instanceID string) *AEADCodecOf {
	return &AEADCodecOf{Keys: keys, InstanceID: instanceID}
}

type aeadHeader struct {
	V   int    `json:"v"`
	IID string `json:"iid"`
	TS  int64  `json:"ts"`
	Box string `json:"box"`
}

type aeadBody struct {
	Args    map[string]json.RawMessage `json:"args"`
	Context json.RawMessage            `json:"context"`
}

func aeadAAD(kind, iid string, m Meta, ts int64) []byte {
	b := make([]byte, 0, 128)
	for _, s := range []string{"trove-go-aead-v1", kind, iid, m.Topic, m.Method, m.MsgID, m.ReplyQ, strconv.FormatInt(ts, 10)} {
		b = append(b, s...)
		b = append(b, 0)
	}
	return b
}

func (c *AEADCodecOf) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *AEADCodecOf) window() time.Duration {
	if c.Window > 0 {
		return c.Window
	}
	return DefaultAEADWindow
}

func (c *AEADCodecOf) seal(kind, key string, m Meta, plain []byte) (json.RawMessage, error) {
	ts := c.now().Unix()
	if key == "" {
		key = c.Keys.Current
	}
	box, err := keyring.Seal(key, plain, aeadAAD(kind, c.InstanceID, m, ts), c.Rand)
	if err != nil {
		return nil, err
	}
	return json.Marshal(aeadHeader{V: 1, IID: c.InstanceID, TS: ts, Box: base64.StdEncoding.EncodeToString(box)})
}

func parseAEADHeader(wire json.RawMessage) (aeadHeader, []byte, error) {
	var h aeadHeader
	if err := json.Unmarshal(wire, &h); err != nil || h.V != 1 || h.IID == "" {
		return h, nil, reject(RejectMalformed, "malformed aead header")
	}
	box, err := base64.StdEncoding.DecodeString(h.Box)
	if err != nil || len(box) < keyring.NonceSize {
		return h, nil, reject(RejectMalformed, "malformed aead box")
	}
	return h, box, nil
}

// open authenticates a request box; checkReplay is false for replies (correlated by msg id).
func openAEAD(kind string, keys keyring.KeySet, h aeadHeader, box []byte, m Meta, now time.Time, window time.Duration, seen *nonceCache) ([]byte, string, error) {
	t := time.Unix(h.TS, 0)
	if t.Before(now.Add(-window)) || t.After(now.Add(window)) {
		return nil, "", reject(RejectStale, "timestamp %d outside ±%s", h.TS, window)
	}
	aad := aeadAAD(kind, h.IID, m, h.TS)
	for _, k := range keys.Accepted(now) {
		pt, err := keyring.Open([]string{k}, box, aad)
		if err != nil {
			continue
		}
		if seen != nil && !seen.add(string(box[:keyring.NonceSize]), t.Add(window)) {
			return nil, "", reject(RejectReplay, "nonce already seen")
		}
		return pt, k, nil
	}
	return nil, "", reject(RejectDecrypt, "aead authentication failed")
}

func (c *AEADCodecOf) EncodeRequest(m Meta, args map[string]json.RawMessage, rc json.RawMessage) (map[string]json.RawMessage, map[string]json.RawMessage, error) {
	plain, err := json.Marshal(aeadBody{Args: args, Context: rc})
	if err != nil {
		return nil, nil, err
	}
	hdr, err := c.seal("request", "", m, plain)
	if err != nil {
		return nil, nil, err
	}
	return map[string]json.RawMessage{}, map[string]json.RawMessage{"aead": hdr}, nil
}

func decodeAEADRequest(keys keyring.KeySet, h aeadHeader, box []byte, m Meta, now time.Time, window time.Duration, seen *nonceCache) (map[string]json.RawMessage, json.RawMessage, Origin, error) {
	pt, key, err := openAEAD("request", keys, h, box, m, now, window, seen)
	if err != nil {
		return nil, nil, Origin{}, err
	}
	var b aeadBody
	if err := json.Unmarshal(pt, &b); err != nil {
		return nil, nil, Origin{}, reject(RejectMalformed, "sealed body is not JSON")
	}
	if b.Args == nil {
		b.Args = map[string]json.RawMessage{}
	}
	return b.Args, b.Context, Origin{InstanceID: h.IID, key: key}, nil
}

func (c *AEADCodecOf) DecodeRequest(_ context.Context, m Meta, wargs, wctx map[string]json.RawMessage) (map[string]json.RawMessage, json.RawMessage, Origin, error) {
	w, ok := wctx["aead"]
	if !ok {
		return nil, nil, Origin{}, reject(RejectPlaintext, "message without aead envelope from a keyed peer")
	}
	if len(wargs) != 0 {
		return nil, nil, Origin{}, reject(RejectMalformed, "unsealed arguments next to an aead envelope")
	}
	h, box, err := parseAEADHeader(w)
	if err != nil {
		return nil, nil, Origin{}, err
	}
	if h.IID != c.InstanceID {
		return nil, nil, Origin{}, reject(RejectIdentity, "aead envelope for instance %s, expected %s", h.IID, c.InstanceID)
	}
	return decodeAEADRequest(c.Keys, h, box, m, c.now(), c.window(), c.cache())
}

func (c *AEADCodecOf) EncodeResult(m Meta, o Origin, r json.RawMessage) (json.RawMessage, error) {
	if len(r) == 0 {
		r = json.RawMessage("null")
	}
	return c.seal("reply", o.key, m, r)
}

func (c *AEADCodecOf) DecodeResult(m Meta, wire json.RawMessage) (json.RawMessage, error) {
	h, box, err := parseAEADHeader(wire)
	if err != nil {
		return nil, err
	}
	if h.IID != c.InstanceID {
		return nil, reject(RejectIdentity, "reply sealed for instance %s", h.IID)
	}
	pt, _, err := openAEAD("reply", c.Keys, h, box, m, c.now(), c.window(), nil)
	return pt, err
}

// nonceCache remembers nonces until their timestamp leaves the replay window. The zero value is ready.
type nonceCache struct {
	mu   sync.Mutex
	m    map[string]time.Time
	adds int
}

// add records nonce until expiry; false if it was already present.
func (n *nonceCache) add(nonce string, expiry time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		n.m = map[string]time.Time{}
	}
	if _, ok := n.m[nonce]; ok {
		return false
	}
	n.m[nonce] = expiry
	if n.adds++; n.adds%4096 == 0 {
		now := time.Now()
		for k, e := range n.m {
			if e.Before(now) {
				delete(n.m, k)
			}
		}
	}
	return true
}

var errUnknown = errors.New("unknown instance")
