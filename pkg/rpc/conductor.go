package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/trove-go/trove/pkg/keyring"
)

// PeerKeys is what the conductor knows about an instance: its key set and the envelope format recorded for it.
// Envelope is explicit; a receiver never guesses the format from a failed decryption.
type PeerKeys struct {
	Keys     keyring.KeySet
	Envelope Envelope
}

// Lookup returns the keys of an instance; ErrUnknownInstance when no such instance exists.
type Lookup func(ctx context.Context, instanceID string) (PeerKeys, error)

// ErrUnknownInstance is returned by a Lookup for an instance id it does not know.
var ErrUnknownInstance = errUnknown

// ---- guest → conductor ----

// ConductorGuestCodec is the guest-side client codec for casts to the conductor: Trove's
// ConductorGuestSerializer (with csz-instance-id) for envelope trove, our AEAD envelope for aead, plaintext for
// none. The conductor never replies with data, so results pass through.
func ConductorGuestCodec(instanceID, key string, envelope Envelope) Codec {
	switch {
	case key == "" || envelope == EnvelopeNone:
		return PlainCodec()
	case envelope == EnvelopeAEAD:
		return AEADCodec(keyring.Single(key), instanceID)
	}
	return &conductorGuest{id: instanceID, key: key}
}

type conductorGuest struct {
	id, key string
	iv      io.Reader // tests
}

// cszEntity renders {"entity": "<b64>", "csz-instance-id": "<id>"} exactly as Python's json.dumps does.
func (c *conductorGuest) seal(field string, v json.RawMessage) (json.RawMessage, error) {
	e, err := troveSeal(c.key, c.iv, v)
	if err != nil {
		return nil, err
	}
	return []byte(fmt.Sprintf(`{"%s": %s, "csz-instance-id": %s}`, field, e, jstr(c.id))), nil
}

func (c *conductorGuest) EncodeRequest(_ Meta, args map[string]json.RawMessage, rc json.RawMessage) (map[string]json.RawMessage, map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(args))
	for k, v := range args {
		s, err := c.seal("entity", v)
		if err != nil {
			return nil, nil, err
		}
		out[k] = jstr(string(s))
	}
	ctx, err := troveSeal(c.key, c.iv, rc)
	if err != nil {
		return nil, nil, err
	}
	return out, map[string]json.RawMessage{"context": ctx, "csz-instance-id": jstr(c.id)}, nil
}

func (c *conductorGuest) DecodeRequest(context.Context, Meta, map[string]json.RawMessage, map[string]json.RawMessage) (map[string]json.RawMessage, json.RawMessage, Origin, error) {
	return nil, nil, Origin{}, errors.New("rpc: ConductorGuestSerializer cannot deserialize")
}
func (c *conductorGuest) EncodeResult(_ Meta, _ Origin, r json.RawMessage) (json.RawMessage, error) {
	return r, nil
}
func (c *conductorGuest) DecodeResult(_ Meta, r json.RawMessage) (json.RawMessage, error) {
	return r, nil
}

// ---- conductor server ----

// ConductorHostCodec is the conductor's server codec (Trove's ConductorHostSerializer, made strict): the
// sender's envelope selects the key via csz-instance-id (trove) or the aead header, and must match the format
// recorded for that instance; plaintext naming a keyed instance is rejected; a decrypted instance_id argument
// must equal the authenticated sender. Replies are plaintext like Trove's.
func ConductorHostCodec(lookup Lookup) *ConductorHost {
	return &ConductorHost{Lookup: lookup}
}

// ConductorHost is the codec returned by ConductorHostCodec.
type ConductorHost struct {
	Lookup Lookup
	Window time.Duration
	Now    func() time.Time
	// Accepted, when set, is called for every message the codec lets through, with the instance it comes from
	// (the authenticated sender, or the instance a plaintext message names; "" when it names none) and its
	// envelope.
	Accepted func(instanceID string, envelope Envelope)
	seen     nonceCache
}

func (c *ConductorHost) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *ConductorHost) peer(ctx context.Context, id string, want Envelope) (PeerKeys, error) {
	p, err := c.Lookup(ctx, id)
	if errors.Is(err, ErrUnknownInstance) {
		return p, reject(RejectUnknown, "no instance %s", id)
	}
	if err != nil {
		return p, fmt.Errorf("rpc: looking up keys of instance %s: %w", id, err)
	}
	if p.Envelope != want || p.Keys.Empty() {
		return p, reject(RejectFormat, "instance %s sent envelope %q but is recorded as %q", id, want, p.Envelope)
	}
	return p, nil
}

func (c *ConductorHost) EncodeRequest(Meta, map[string]json.RawMessage, json.RawMessage) (map[string]json.RawMessage, map[string]json.RawMessage, error) {
	return nil, nil, errors.New("rpc: ConductorHostCodec is receive-only")
}
func (c *ConductorHost) EncodeResult(_ Meta, _ Origin, r json.RawMessage) (json.RawMessage, error) {
	return r, nil
}
func (c *ConductorHost) DecodeResult(_ Meta, r json.RawMessage) (json.RawMessage, error) {
	return r, nil
}

// DecodeRequest opens a guest's message. A refusal (*RejectError) names the instance the message claimed to
// come from: the aead header's or csz-instance-id's, or the instance a plaintext message is about.
func (c *ConductorHost) DecodeRequest(ctx context.Context, m Meta, wargs, wctx map[string]json.RawMessage) (map[string]json.RawMessage, json.RawMessage, Origin, error) {
	args, rc, o, from, err := c.decode(ctx, m, wargs, wctx)
	if err == nil && o.InstanceID != "" {
		if v, ok := args["instance_id"]; ok {
			var id string
			if json.Unmarshal(v, &id) != nil || id != o.InstanceID {
				err = reject(RejectIdentity, "instance %s sent a message about instance %s", o.InstanceID, v)
			}
		}
	}
	if err != nil {
		var rej *RejectError
		if errors.As(err, &rej) && rej.InstanceID == "" {
			rej.InstanceID = from.id
		}
		return nil, nil, Origin{}, err
	}
	if c.Accepted != nil {
		c.Accepted(from.id, from.envelope)
	}
	return args, rc, o, nil
}

// sender is who a message says it comes from (or, plaintext, is about) and in which envelope.
type sender struct {
	id       string
	envelope Envelope
}

func (c *ConductorHost) decode(ctx context.Context, m Meta, wargs, wctx map[string]json.RawMessage) (map[string]json.RawMessage, json.RawMessage, Origin, sender, error) {
	switch {
	case wctx["aead"] != nil:
		h, box, err := parseAEADHeader(wctx["aead"])
		from := sender{h.IID, EnvelopeAEAD}
		if err != nil {
			return nil, nil, Origin{}, from, err
		}
		p, err := c.peer(ctx, h.IID, EnvelopeAEAD)
		if err != nil {
			return nil, nil, Origin{}, from, err
		}
		if len(wargs) != 0 {
			return nil, nil, Origin{}, from, reject(RejectMalformed, "unsealed arguments next to an aead envelope")
		}
		w := c.Window
		if w == 0 {
			w = DefaultAEADWindow
		}
		args, rc, o, err := decodeAEADRequest(p.Keys, h, box, m, c.now(), w, &c.seen)
		return args, rc, o, from, err
	case wctx["csz-instance-id"] != nil:
		var id string
		if err := json.Unmarshal(wctx["csz-instance-id"], &id); err != nil || id == "" {
			return nil, nil, Origin{}, sender{envelope: EnvelopeTrove}, reject(RejectMalformed, "csz-instance-id is not a string")
		}
		from := sender{id, EnvelopeTrove}
		p, err := c.peer(ctx, id, EnvelopeTrove)
		if err != nil {
			return nil, nil, Origin{}, from, err
		}
		args, rc, key, err := troveOpenRequest(p.Keys.Accepted(c.now()), wargs, wctx,
			func(keys []string, v json.RawMessage) (json.RawMessage, string, error) {
				return openCSZ(keys, id, v)
			})
		return args, rc, Origin{InstanceID: id, key: key}, from, err
	}
	// Plaintext: acceptable only from instances without a key.
	from := sender{plainInstanceID(wargs), EnvelopeNone}
	if from.id != "" {
		p, err := c.Lookup(ctx, from.id)
		if err != nil && !errors.Is(err, ErrUnknownInstance) {
			return nil, nil, Origin{}, from, fmt.Errorf("rpc: looking up keys of instance %s: %w", from.id, err)
		}
		if err == nil && (p.Envelope != EnvelopeNone || !p.Keys.Empty()) {
			return nil, nil, Origin{}, from, reject(RejectPlaintext, "plaintext message about keyed instance %s", from.id)
		}
	}
	rc, err := json.Marshal(wctx)
	return wargs, rc, Origin{}, from, err
}

// openCSZ decrypts a ConductorGuestSerializer entity: a JSON string holding {"entity", "csz-instance-id"}.
func openCSZ(keys []string, sender string, wire json.RawMessage) (json.RawMessage, string, error) {
	var s string
	if err := json.Unmarshal(wire, &s); err != nil {
		return nil, "", reject(RejectPlaintext, "value is not an encrypted entity")
	}
	var e struct {
		Entity json.RawMessage `json:"entity"`
		ID     string          `json:"csz-instance-id"`
	}
	if err := json.Unmarshal([]byte(s), &e); err != nil || e.Entity == nil {
		return nil, "", reject(RejectPlaintext, "value is not an encrypted entity")
	}
	if e.ID != sender {
		return nil, "", reject(RejectIdentity, "entity for instance %s in a message from %s", e.ID, sender)
	}
	return troveOpen(keys, e.Entity)
}

// plainInstanceID finds the instance a plaintext conductor message is about.
func plainInstanceID(args map[string]json.RawMessage) string {
	var id string
	if json.Unmarshal(args["instance_id"], &id) == nil && id != "" {
		return id
	}
	var n struct {
		ID string `json:"instance_id"`
	}
	if json.Unmarshal(args["serialized_notification"], &n) == nil {
		return n.ID
	}
	return ""
}
