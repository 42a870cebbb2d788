// Package rpctest holds test-only tools for pkg/rpc traffic: Tap reads and injects raw messages on the broker.
// Production code never imports it.
package rpctest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Tap observes messages on the broker, for tests that must not trust the code path: a private, exclusive queue
// bound to the control exchange with the given routing keys receives a copy of every message published with
// them (a topic exchange delivers to every bound queue; the real consumers are unaffected). Publish injects raw
// bodies (forgeries, replays) as any broker client could.
type Tap struct {
	conn       *amqp.Connection
	ch         *amqp.Channel
	exchange   string
	deliveries <-chan amqp.Delivery
}

// TappedMessage is one observed message: its routing key, the raw body as it crossed the broker, and the
// decoded inner oslo message (method, args, _context_*, _unique_id …).
type TappedMessage struct {
	RoutingKey string
	Body       []byte
	Inner      map[string]json.RawMessage
}

// Method returns the inner "method", "" for replies and malformed bodies.
func (m TappedMessage) Method() string {
	var s string
	_ = json.Unmarshal(m.Inner["method"], &s)
	return s
}

// NewTap binds a tap to exchange (which must exist) for routing keys (e.g. "guestagent.<id>",
// "trove-conductor"). transportURL is oslo's rabbit://user:pass@host:port/vhost (the first host is used).
func NewTap(transportURL, exchange string, keys ...string) (*Tap, error) {
	uri, err := amqpURI(transportURL)
	if err != nil {
		return nil, err
	}
	conn, err := amqp.Dial(uri)
	if err != nil {
		return nil, fmt.Errorf("rpc tap: %w", err)
	}
	t := &Tap{conn: conn, exchange: exchange}
	if err := t.open(keys); err != nil {
		conn.Close()
		return nil, err
	}
	return t, nil
}

// amqpURI turns a single-host oslo transport_url (rabbit://user:pass@host:port/vhost) into an AMQP URI.
func amqpURI(transportURL string) (string, error) {
	u, err := url.Parse(transportURL)
	if err != nil || u.Scheme != "rabbit" || strings.Contains(u.Host, ",") {
		return "", errors.New("rpc tap: want a single-host rabbit:// transport_url")
	}
	u.Scheme = "amqp"
	if u.Path == "" || u.Path == "/" {
		u.Path, u.RawPath = "//", "/%2F" // the default vhost "/"
	}
	return u.String(), nil
}

func (t *Tap) open(keys []string) error {
	ch, err := t.conn.Channel()
	if err != nil {
		return err
	}
	t.ch = ch
	if err := ch.ExchangeDeclarePassive(t.exchange, "topic", false, false, false, false, nil); err != nil {
		return fmt.Errorf("rpc tap: exchange %s: %w", t.exchange, err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := ch.QueueBind(q.Name, k, t.exchange, false, nil); err != nil {
			return err
		}
	}
	t.deliveries, err = ch.Consume(q.Name, "", true, true, false, false, nil)
	return err
}

// Next returns the next observed message, or ctx's error.
func (t *Tap) Next(ctx context.Context) (TappedMessage, error) {
	select {
	case <-ctx.Done():
		return TappedMessage{}, ctx.Err()
	case d, ok := <-t.deliveries:
		if !ok {
			return TappedMessage{}, errors.New("rpc tap: closed")
		}
		m := TappedMessage{RoutingKey: d.RoutingKey, Body: d.Body}
		m.Inner, _ = DecodeInner(d.Body)
		return m, nil
	}
}

// Publish sends a raw body to the exchange with routing key, exactly as given.
func (t *Tap) Publish(ctx context.Context, key string, body []byte) error {
	return t.ch.PublishWithContext(ctx, t.exchange, key, false, false,
		amqp.Publishing{ContentType: "application/json", ContentEncoding: "utf-8", DeliveryMode: amqp.Persistent, Body: body})
}

// Close ends the tap (its queue goes with it).
func (t *Tap) Close() error { return t.conn.Close() }

// DecodeInner returns the inner message of an oslo.messaging 2.0 body (the object in "oslo.message").
func DecodeInner(body []byte) (map[string]json.RawMessage, error) {
	var env struct {
		Message string `json:"oslo.message"`
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	return inner, json.Unmarshal([]byte(env.Message), &inner)
}

// WithFreshUniqueID returns body with a new _unique_id: what a replay attacker does to get past receivers'
// duplicate suppression. Everything else (sealed payload, timestamps) is unchanged.
func WithFreshUniqueID(body []byte) ([]byte, error) {
	inner, err := DecodeInner(body)
	if err != nil {
		return nil, err
	}
	inner["_unique_id"], _ = json.Marshal(strings.ReplaceAll(uuid.NewString(), "-", ""))
	b, err := json.Marshal(inner)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]string{"oslo.version": "2.0", "oslo.message": string(b)})
}

// Plaintext reports whether a tapped request carries readable arguments or context: any non-empty "args"
// value that is not an encrypted string/entity, or a flattened _context_* key other than the envelopes'
// (_context_context, _context_aead, _context_csz-instance-id).
func (m TappedMessage) Plaintext() bool {
	var args map[string]json.RawMessage
	_ = json.Unmarshal(m.Inner["args"], &args)
	for _, v := range args {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return true // a number, object, list … in clear
		}
		if !base64Like(s) {
			return true
		}
	}
	for k := range m.Inner {
		if strings.HasPrefix(k, "_context_") {
			switch k {
			case "_context_context", "_context_aead", "_context_csz-instance-id":
			default:
				return true
			}
		}
	}
	return false
}

// base64Like accepts the shapes sealed values take: base64 ciphertext (trove) or a JSON entity string holding
// base64 ciphertext (ConductorGuestSerializer).
func base64Like(s string) bool {
	var e struct {
		Entity string `json:"entity"`
	}
	if json.Unmarshal([]byte(s), &e) == nil && e.Entity != "" {
		s = e.Entity
	}
	return len(s) >= 24 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == ""
}
