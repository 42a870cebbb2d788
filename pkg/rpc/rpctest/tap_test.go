package rpctest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/testenv"
)

type echoArgs struct {
	Text string `json:"text"`
}

func (a echoArgs) Validate() error {
	if a.Text == "" {
		return errors.New("text is required")
	}
	return nil
}

// A tap sees every cast as it crosses the broker: readable for plaintext, opaque for each secure envelope;
// WithFreshUniqueID changes nothing but _unique_id.
func TestTapSeesWireBodies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	tr, err := rpc.Dial(ctx, Config(testenv.TransportURL(t), testenv.UniqueName(t, "trove-test")), logrus.NewEntry(log))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	const key = "Q7dX2mLp9RtZ4vKc8NwB1sYh6JfE3gUa"
	topic := testenv.UniqueName(t, "tap")
	// A server declares the exchange (and consumes, so the casts have somewhere to go).
	srv := tr.NewServer(rpc.ServerConfig{Topic: topic, Server: "s", Version: "1.0", Codec: rpc.PlainCodec()})
	rpc.Register(srv, "echo", func(_ context.Context, _ rpc.Context, a echoArgs) (echoArgs, error) { return a, nil })
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
		codec     rpc.Codec
		plaintext bool
	}{
		{"plain", rpc.PlainCodec(), true},
		{"trove", rpc.TroveCodec(key), false},
		{"aead", rpc.AEADCodec(keyring.Single(key), "inst-1"), false},
		{"conductor trove", rpc.ConductorGuestCodec("inst-1", key, rpc.EnvelopeTrove), false},
		{"conductor aead", rpc.ConductorGuestCodec("inst-1", key, rpc.EnvelopeAEAD), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tr.Client(rpc.Target{Topic: topic, Version: "1.0"}, tc.codec)
			if err := c.Cast(context.Background(), rpc.Context{RequestID: "req-tap", UserID: "u"}, "echo", echoArgs{Text: "secret words"}); err != nil {
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
			in2, _ := DecodeInner(fresh)
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
