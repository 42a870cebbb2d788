package rpc

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/testenv"
)

// A tap sees every cast as it crosses the broker: readable for plaintext, opaque for each secure envelope;
// WithFreshUniqueID changes nothing but _unique_id.
func TestTapSeesWireBodies(t *testing.T) {
	tr := newTransport(t)
	const key = "Q7dX2mLp9RtZ4vKc8NwB1sYh6JfE3gUa"
	topic := testenv.UniqueName(t, "tap")
	// A server declares the exchange (and consumes, so the casts have somewhere to go).
	srv := tr.NewServer(ServerConfig{Topic: topic, Server: "s", Version: "1.0", Codec: PlainCodec()})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	tap, err := NewTap(testenv.TransportURL(t), tr.Exchange(), topic)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	for _, tc := range []struct {
		name      string
		codec     Codec
		plaintext bool
	}{
		{"plain", PlainCodec(), true},
		{"trove", TroveCodec(key), false},
		{"aead", AEADCodec(keyring.Single(key), "inst-1"), false},
		{"conductor trove", ConductorGuestCodec("inst-1", key, EnvelopeTrove), false},
		{"conductor aead", ConductorGuestCodec("inst-1", key, EnvelopeAEAD), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tr.Client(Target{Topic: topic, Version: "1.0"}, tc.codec)
			if err := c.Cast(context.Background(), Context{RequestID: "req-tap", UserID: "u"}, "echo", echoArgs{Text: "secret words"}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			m, err := tap.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.RoutingKey != topic || m.Method() != "echo" || m.Plaintext() != tc.plaintext {
				t.Fatalf("tapped %s %q plaintext=%v: %s", m.RoutingKey, m.Method(), m.Plaintext(), m.Body)
			}
			if contains := json.Valid(m.Body) && containsText(m.Body, "secret words"); contains != tc.plaintext {
				t.Fatalf("argument text on the wire = %v: %s", contains, m.Body)
			}
			fresh, err := WithFreshUniqueID(m.Body)
			if err != nil {
				t.Fatal(err)
			}
			in2, _ := decodeInner(fresh)
			if string(in2["_unique_id"]) == string(m.Inner["_unique_id"]) || string(in2["args"]) != string(m.Inner["args"]) {
				t.Fatalf("fresh unique id: %s", fresh)
			}
		})
	}
}

func containsText(b []byte, s string) bool {
	var outer struct {
		Message string `json:"oslo.message"`
	}
	_ = json.Unmarshal(b, &outer)
	return strings.Contains(outer.Message, s)
}
