package rpc

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/keyring"
)

// Seeds live in testdata/fuzz/<target>/ (real oslo bodies, Trove vectors, AEAD envelopes).

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"oslo.version": "2.0", "oslo.message": "{\"method\": \"echo\", \"args\": {\"text\": \"x\"}, \"version\": \"1.3\", \"_unique_id\": \"ab\", \"_context_request_id\": \"r\"}"}`))
	f.Add([]byte(`{"method": "echo", "args": null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeRequest(body)
		if err != nil {
			return
		}
		if r.Method == "" || r.Args == nil || r.Ctx == nil {
			t.Fatalf("accepted request without method/args/context: %+v", r)
		}
		again, err := encodeRequest(r)
		if err != nil {
			return // e.g. invalid UTF-8 survives as raw JSON only
		}
		r2, err := decodeRequest(again)
		if err != nil || r2.Method != r.Method || r2.Version != r.Version {
			t.Fatalf("re-encoded request does not decode the same: %v", err)
		}
	})
}

func FuzzDecodeReply(f *testing.F) {
	f.Add([]byte(`{"oslo.version": "2.0", "oslo.message": "{\"result\": null, \"failure\": \"{\\\"class\\\": \\\"ValueError\\\"}\", \"ending\": true, \"_msg_id\": \"m\"}"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeReply(body)
		if err == nil && r.Failure != nil {
			_ = decodeFailure(*r.Failure)
		}
	})
}

func FuzzTroveDecode(f *testing.F) {
	f.Add(`"EREREREREREREREREREREU2wQq/uNS3Hz+wKiGBPdLzDDBZ9rW0ClciL7rAKU3AN8IyoX4z1Bo8+dqbVRKiEtw=="`, `"IiIiIiIiIiIiIiIiIiIiIg=="`)
	f.Add(heartbeatVector["payload"], `{}`)
	f.Fuzz(func(t *testing.T, arg, ctx string) {
		if !json.Valid([]byte(arg)) || !json.Valid([]byte(ctx)) {
			return
		}
		c := TroveCodec(keyring.DefaultTaskmanagerKey)
		args, rc, _, err := c.DecodeRequest(context.Background(), Meta{}, map[string]json.RawMessage{"a": raw(arg)},
			map[string]json.RawMessage{"context": raw(ctx)})
		if err == nil && (!json.Valid(rc) || !json.Valid(args["a"])) {
			t.Fatal("accepted invalid JSON")
		}
		host := ConductorHostCodec(lookupOf(map[string]PeerKeys{vecInstance: {keyring.Single(vecInstKey), EnvelopeTrove}}))
		_, _, _, _ = host.DecodeRequest(context.Background(), Meta{}, map[string]json.RawMessage{"a": raw(arg)},
			map[string]json.RawMessage{"context": raw(ctx), "csz-instance-id": jstr(vecInstance)})
	})
}

func FuzzAEADDecode(f *testing.F) {
	now := time.Unix(1767607202, 0)
	c := &AEADCodecOf{Keys: keyring.Single(vecInstKey), InstanceID: vecInstance, Now: func() time.Time { return now }}
	_, wctx, _ := c.EncodeRequest(Meta{Topic: "t", Method: "m"}, map[string]json.RawMessage{"x": raw(`1`)}, raw(`{}`))
	f.Add(string(wctx["aead"]), "t", "m")
	f.Add(`{"v":1,"iid":"x","ts":0,"box":""}`, "", "")
	f.Fuzz(func(t *testing.T, hdr, topic, method string) {
		if !json.Valid([]byte(hdr)) {
			return
		}
		r := AEADCodec(keyring.Single(vecInstKey), vecInstance)
		r.Now = func() time.Time { return now }
		args, rc, o, err := r.DecodeRequest(context.Background(), Meta{Topic: topic, Method: method}, nil,
			map[string]json.RawMessage{"aead": raw(hdr)})
		if err == nil && (o.InstanceID != vecInstance || args == nil || rc == nil) {
			t.Fatal("inconsistent accept")
		}
		if err == nil && (topic != "t" || method != "m") {
			t.Fatalf("accepted a box sealed for t/m under %q/%q", topic, method)
		}
	})
}
