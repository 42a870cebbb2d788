package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/keyring"
)

const (
	vecInstance = "5f1c3a2e-8d4b-4c1e-9a7f-0b2c3d4e5f60"
	vecInstKey  = "Q7dX2mLp9RtZ4vKc8NwB1sYh6JfE3gUa"
)

func ivs(bs ...byte) io.Reader {
	var b []byte
	for _, x := range bs {
		b = append(b, bytes.Repeat([]byte{x}, 16)...)
	}
	return bytes.NewReader(b)
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// TestTroveCastVector reproduces rpc.md §C.5's secure delete_instance cast.
func TestTroveCastVector(t *testing.T) {
	c := &TroveCodecOf{Keys: keyring.Single(keyring.DefaultTaskmanagerKey), IV: ivs(0x11, 0x22)}
	rc, _ := json.Marshal(Context{RequestID: "req-1d2c3b4a-0000-4000-8000-000000000001"})
	wargs, wctx, err := c.EncodeRequest(Meta{Topic: "taskmanager", Method: "delete_instance"},
		map[string]json.RawMessage{"instance_id": jstr(vecInstance)}, rc)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(wargs["instance_id"]), `"EREREREREREREREREREREU2wQq/uNS3Hz+wKiGBPdLzDDBZ9rW0ClciL7rAKU3AN8IyoX4z1Bo8+dqbVRKiEtw=="`; got != want {
		t.Fatalf("instance_id = %s, want %s", got, want)
	}
	if !strings.HasPrefix(string(wctx["context"]), `"IiIiIiIiIiIiIiIiIiIiI`) || len(wctx) != 1 {
		t.Fatalf("context = %v, want only _context_context with IV 22×16", wctx)
	}
	args, back, _, err := (&TroveCodecOf{Keys: c.Keys}).DecodeRequest(context.Background(), Meta{}, wargs, wctx)
	if err != nil || string(args["instance_id"]) != string(jstr(vecInstance)) {
		t.Fatalf("decode = %s, %v", args["instance_id"], err)
	}
	var got Context
	if err := json.Unmarshal(back, &got); err != nil || got.RequestID != "req-1d2c3b4a-0000-4000-8000-000000000001" {
		t.Fatalf("context round trip = %+v, %v", got, err)
	}
}

// heartbeatVector is rpc.md §C.5's guest → conductor heartbeat (IVs 33, 44, 55 × 16).
var heartbeatVector = map[string]string{
	"instance_id": `{"entity": "MzMzMzMzMzMzMzMzMzMzM2gyf3NBILZac9q4O/HYxj7LCXCAPeTv2F7KBNQwaYrlJ+kr4zY9GjE6X+gHV9BrTw==", "csz-instance-id": "5f1c3a2e-8d4b-4c1e-9a7f-0b2c3d4e5f60"}`,
	"sent":        `{"entity": "RERERERERERERERERERERC1jgwXzL3OXZDeNAKv35D+fVRLe9ZbqXWM92c5d7YHg", "csz-instance-id": "5f1c3a2e-8d4b-4c1e-9a7f-0b2c3d4e5f60"}`,
	"payload":     `{"entity": "VVVVVVVVVVVVVVVVVVVVVV5gGygDs5K3MINvYJl7aY5ORPKy/0sfcEnVI5jdWIeF", "csz-instance-id": "5f1c3a2e-8d4b-4c1e-9a7f-0b2c3d4e5f60"}`,
}

var heartbeatPlain = map[string]string{
	"instance_id": `"5f1c3a2e-8d4b-4c1e-9a7f-0b2c3d4e5f60"`, "sent": `1767607202.123456`, "payload": `{"service_status":"healthy"}`,
}

func TestConductorGuestHeartbeatVector(t *testing.T) {
	for name, iv := range map[string]byte{"instance_id": 0x33, "sent": 0x44, "payload": 0x55} {
		c := &conductorGuest{id: vecInstance, key: vecInstKey, iv: ivs(iv, 0x66)}
		wargs, _, err := c.EncodeRequest(Meta{}, map[string]json.RawMessage{name: raw(heartbeatPlain[name])}, raw(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(wargs[name]), string(jstr(heartbeatVector[name])); got != want {
			t.Errorf("%s = %s\nwant %s", name, got, want)
		}
	}
}

// wireHeartbeat returns the vector heartbeat's args and a context sealed for it with key.
func wireHeartbeat(t *testing.T, ctxKey string) (map[string]json.RawMessage, map[string]json.RawMessage) {
	t.Helper()
	args := map[string]json.RawMessage{}
	for k, v := range heartbeatVector {
		args[k] = jstr(v)
	}
	sealed, err := troveSeal(ctxKey, nil, raw(`{"request_id": "req-hb"}`))
	if err != nil {
		t.Fatal(err)
	}
	return args, map[string]json.RawMessage{"context": sealed, "csz-instance-id": jstr(vecInstance)}
}

func lookupOf(m map[string]PeerKeys) Lookup {
	return func(_ context.Context, id string) (PeerKeys, error) {
		p, ok := m[id]
		if !ok {
			return PeerKeys{}, ErrUnknownInstance
		}
		return p, nil
	}
}

func rejectReason(err error) string {
	var r *RejectError
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}

func TestConductorHostAcceptsVector(t *testing.T) {
	host := ConductorHostCodec(lookupOf(map[string]PeerKeys{vecInstance: {keyring.Single(vecInstKey), EnvelopeTrove}}))
	wargs, wctx := wireHeartbeat(t, vecInstKey)
	args, rc, sender, err := host.DecodeRequest(context.Background(), Meta{Method: "heartbeat"}, wargs, wctx)
	if err != nil {
		t.Fatal(err)
	}
	if sender.InstanceID != vecInstance || !strings.Contains(string(rc), "req-hb") {
		t.Fatalf("sender %q rc %s", sender, rc)
	}
	want := map[string]string{"instance_id": `"5f1c3a2e-8d4b-4c1e-9a7f-0b2c3d4e5f60"`, "sent": `1767607202.123456`, "payload": `{"service_status": "healthy"}`}
	for k, v := range want {
		if string(args[k]) != v {
			t.Errorf("%s = %s, want %s", k, args[k], v)
		}
	}
}

// TestConductorHostRejects covers the no-downgrade rules: every case names a keyed (or unknown) instance.
func TestConductorHostRejects(t *testing.T) {
	const aeadInst, plainInst = "aead-instance", "legacy-instance"
	peers := map[string]PeerKeys{
		vecInstance: {keyring.Single(vecInstKey), EnvelopeTrove},
		aeadInst:    {keyring.Single("aead-key"), EnvelopeAEAD},
		plainInst:   {},
	}
	host := ConductorHostCodec(lookupOf(peers))
	m := Meta{Topic: "trove-conductor", Method: "heartbeat"}
	aeadFor := func(id, key string) (map[string]json.RawMessage, map[string]json.RawMessage) {
		c := AEADCodec(keyring.Single(key), id)
		a, x, err := c.EncodeRequest(m, map[string]json.RawMessage{"instance_id": jstr(id)}, raw(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		return a, x
	}
	cases := []struct {
		name   string
		build  func() (map[string]json.RawMessage, map[string]json.RawMessage)
		reason string
	}{
		{"plaintext heartbeat for a keyed instance", func() (map[string]json.RawMessage, map[string]json.RawMessage) {
			return map[string]json.RawMessage{"instance_id": jstr(vecInstance)}, map[string]json.RawMessage{"request_id": jstr("r")}
		}, RejectPlaintext},
		{"plaintext notification for a keyed instance", func() (map[string]json.RawMessage, map[string]json.RawMessage) {
			return map[string]json.RawMessage{"serialized_notification": raw(`{"instance_id": "aead-instance"}`)}, map[string]json.RawMessage{}
		}, RejectPlaintext},
		{"wrong key", func() (map[string]json.RawMessage, map[string]json.RawMessage) {
			a, _ := wireHeartbeat(t, vecInstKey)
			_, x := wireHeartbeat(t, "not the key")
			return a, x
		}, RejectDecrypt},
		{"tampered entity", func() (map[string]json.RawMessage, map[string]json.RawMessage) {
			a, x := wireHeartbeat(t, vecInstKey)
			a["payload"] = jstr(strings.Replace(heartbeatVector["payload"], "VVVVVV5g", "VVVVVV5h", 1))
			return a, x
		}, RejectDecrypt},
		{"plaintext argument inside a csz message", func() (map[string]json.RawMessage, map[string]json.RawMessage) {
			a, x := wireHeartbeat(t, vecInstKey)
			a["payload"] = raw(`{"service_status": "healthy"}`)
			return a, x
		}, RejectPlaintext},
		{"csz for another instance's entity", func() (map[string]json.RawMessage, map[string]json.RawMessage) {
			a, x := wireHeartbeat(t, vecInstKey)
			a["sent"] = jstr(strings.Replace(heartbeatVector["sent"], vecInstance, "other", 1))
			return a, x
		}, RejectIdentity},
		{"trove envelope from an aead instance", func() (map[string]json.RawMessage, map[string]json.RawMessage) {
			a, x := wireHeartbeat(t, vecInstKey)
			x["csz-instance-id"] = jstr(aeadInst)
			return a, x
		}, RejectFormat},
		{"aead envelope from a trove instance", func() (map[string]json.RawMessage, map[string]json.RawMessage) {
			return aeadFor(vecInstance, vecInstKey)
		}, RejectFormat},
		{"aead heartbeat about another instance", func() (map[string]json.RawMessage, map[string]json.RawMessage) {
			c := AEADCodec(keyring.Single("aead-key"), aeadInst)
			a, x, _ := c.EncodeRequest(m, map[string]json.RawMessage{"instance_id": jstr(vecInstance)}, raw(`{}`))
			return a, x
		}, RejectIdentity},
		{"aead with the wrong key", func() (map[string]json.RawMessage, map[string]json.RawMessage) {
			return aeadFor(aeadInst, "wrong")
		}, RejectDecrypt},
		{"unknown instance", func() (map[string]json.RawMessage, map[string]json.RawMessage) {
			a, x := wireHeartbeat(t, vecInstKey)
			x["csz-instance-id"] = jstr("nobody")
			return a, x
		}, RejectUnknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, x := c.build()
			_, _, _, err := host.DecodeRequest(context.Background(), m, a, x)
			if got := rejectReason(err); got != c.reason {
				t.Fatalf("reason = %q (%v), want %q", got, err, c.reason)
			}
		})
	}
	// a legacy instance without key may still talk plaintext
	if _, _, _, err := host.DecodeRequest(context.Background(), m, map[string]json.RawMessage{"instance_id": jstr(plainInst)}, map[string]json.RawMessage{}); err != nil {
		t.Fatalf("plaintext from a legacy instance rejected: %v", err)
	}
	a, x := aeadFor(aeadInst, "aead-key")
	if _, _, sender, err := host.DecodeRequest(context.Background(), m, a, x); err != nil || sender.InstanceID != aeadInst {
		t.Fatalf("aead from its instance: %q, %v", sender, err)
	}
}

func TestTroveCodecRejectsDowngrade(t *testing.T) {
	recv := TroveCodec("guest key")
	good, goodCtx, err := TroveCodec("guest key").EncodeRequest(Meta{}, map[string]json.RawMessage{"a": raw(`1`)}, raw(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	_, wrongCtx, _ := TroveCodec("other key").EncodeRequest(Meta{}, nil, raw(`{}`))
	cases := []struct {
		name       string
		args, wctx map[string]json.RawMessage
		reason     string
	}{
		{"plaintext context", good, map[string]json.RawMessage{"request_id": jstr("r")}, RejectPlaintext},
		{"plaintext argument", map[string]json.RawMessage{"a": raw(`1`)}, goodCtx, RejectPlaintext},
		{"non-base64 string argument", map[string]json.RawMessage{"a": jstr("hello")}, goodCtx, RejectDecrypt},
		{"context under another key", good, wrongCtx, RejectDecrypt},
	}
	for _, c := range cases {
		if _, _, _, err := recv.DecodeRequest(context.Background(), Meta{}, c.args, c.wctx); rejectReason(err) != c.reason {
			t.Errorf("%s: %v, want reason %s", c.name, err, c.reason)
		}
	}
	if args, _, _, err := recv.DecodeRequest(context.Background(), Meta{}, good, goodCtx); err != nil || string(args["a"]) != "1" {
		t.Fatalf("good message: %s, %v", args["a"], err)
	}
}

func TestAEADCodec(t *testing.T) {
	now := time.Unix(1767607202, 0)
	clock := func() time.Time { return now }
	keys := keyring.Single(vecInstKey)
	m := Meta{Topic: "guestagent." + vecInstance, Method: "list_databases", MsgID: "m1", ReplyQ: "reply_x"}
	send := &AEADCodecOf{Keys: keys, InstanceID: vecInstance, Now: clock}
	args, wctx, err := send.EncodeRequest(m, map[string]json.RawMessage{"limit": raw(`5`)}, raw(`{"request_id":"r1"}`))
	if err != nil {
		t.Fatal(err)
	}
	recv := func() *AEADCodecOf { c := AEADCodec(keys, vecInstance); c.Now = clock; return c }
	r := recv()
	got, rc, sender, err := r.DecodeRequest(context.Background(), m, args, wctx)
	if err != nil || string(got["limit"]) != "5" || sender.InstanceID != vecInstance || !strings.Contains(string(rc), "r1") {
		t.Fatalf("decode = %s %s %q %v", got, rc, sender, err)
	}
	if _, _, _, err := r.DecodeRequest(context.Background(), m, args, wctx); rejectReason(err) != RejectReplay {
		t.Fatalf("replay: %v", err)
	}
	other := m
	other.Method = "delete_database"
	otherTopic := m
	otherTopic.Topic = "trove-conductor"
	otherReply := m
	otherReply.ReplyQ = "reply_attacker"
	late := recv()
	late.Now = func() time.Time { return now.Add(DefaultAEADWindow + time.Second) }
	tampered := map[string]json.RawMessage{}
	var h aeadHeader
	_ = json.Unmarshal(wctx["aead"], &h)
	h.TS++
	tampered["aead"], _ = json.Marshal(h)
	cases := []struct {
		name   string
		codec  *AEADCodecOf
		m      Meta
		args   map[string]json.RawMessage
		wctx   map[string]json.RawMessage
		reason string
	}{
		{"other method", recv(), other, args, wctx, RejectDecrypt},
		{"other topic", recv(), otherTopic, args, wctx, RejectDecrypt},
		{"redirected reply queue", recv(), otherReply, args, wctx, RejectDecrypt},
		{"timestamp changed", recv(), m, args, tampered, RejectDecrypt},
		{"outside window", late, m, args, wctx, RejectStale},
		{"other instance", &AEADCodecOf{Keys: keys, InstanceID: "other", Now: clock}, m, args, wctx, RejectIdentity},
		{"plaintext", recv(), m, map[string]json.RawMessage{"limit": raw(`5`)}, map[string]json.RawMessage{"request_id": jstr("r")}, RejectPlaintext},
		{"extra plaintext argument", recv(), m, map[string]json.RawMessage{"limit": raw(`5`)}, wctx, RejectMalformed},
	}
	for _, c := range cases {
		if _, _, _, err := c.codec.DecodeRequest(context.Background(), c.m, c.args, c.wctx); rejectReason(err) != c.reason {
			t.Errorf("%s: %v, want %s", c.name, err, c.reason)
		}
	}
	res, err := r.EncodeResult(m, Origin{}, raw(`[1,2]`))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := send.DecodeResult(m, res); err != nil || string(out) != "[1,2]" {
		t.Fatalf("result = %s, %v", out, err)
	}
	if _, err := send.DecodeResult(other, res); err == nil {
		t.Fatal("reply for another call accepted")
	}
}

func TestGuestCodec(t *testing.T) {
	k := keyring.Single("k")
	cases := []struct {
		keys    keyring.KeySet
		env     Envelope
		want    string
		wantErr bool
	}{
		{keyring.KeySet{}, EnvelopeNone, "rpc.plainCodec", false},
		{k, EnvelopeTrove, "*rpc.TroveCodecOf", false},
		{k, EnvelopeAEAD, "*rpc.AEADCodecOf", false},
		{k, EnvelopeNone, "", true},
		{keyring.KeySet{}, EnvelopeAEAD, "", true},
		{keyring.KeySet{}, EnvelopeTrove, "", true},
		{k, Envelope("rot13"), "", true},
	}
	for _, c := range cases {
		got, err := GuestCodec("i", c.keys, c.env)
		if (err != nil) != c.wantErr || (err == nil && fmt.Sprintf("%T", got) != c.want) {
			t.Errorf("GuestCodec(%v, %q) = %T, %v", c.keys.Empty(), c.env, got, err)
		}
	}
	for in, want := range map[string]Envelope{"trove": EnvelopeTrove, "aead": EnvelopeAEAD, "": EnvelopeTrove} {
		if got, err := ParseEnvelope(in, true); err != nil || got != want {
			t.Errorf("ParseEnvelope(%q, key) = %q, %v", in, got, err)
		}
	}
	if got, err := ParseEnvelope("", false); err != nil || got != EnvelopeNone {
		t.Errorf("ParseEnvelope without key = %q, %v", got, err)
	}
	if _, err := ParseEnvelope("aead", false); err == nil {
		t.Error("aead without key accepted")
	}
}

func TestAEADRotationKeepsReplayCache(t *testing.T) {
	m := Meta{Topic: "guestagent.x", Method: "ping"}
	old := AEADCodec(keyring.Single("old"), "x")
	args, wctx, err := old.EncodeRequest(m, nil, raw(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := old.DecodeRequest(context.Background(), m, args, wctx); err != nil {
		t.Fatal(err)
	}
	rotated := old.WithKeys(keyring.KeySet{Current: "new", Previous: "old", PreviousUntil: time.Now().Add(time.Hour)})
	if _, _, _, err := rotated.DecodeRequest(context.Background(), m, args, wctx); rejectReason(err) != RejectReplay {
		t.Fatalf("replay after rotation: %v", err)
	}
	args2, wctx2, _ := old.EncodeRequest(m, nil, raw(`{}`))
	if _, _, _, err := rotated.DecodeRequest(context.Background(), m, args2, wctx2); err != nil {
		t.Fatalf("previous key during overlap: %v", err)
	}
}
