// Package rpc speaks oslo.messaging's rabbit driver wire format over amqp091-go: a reconnecting Transport,
// a Client (Call, Cast, fanout Cast) and a Server dispatching to typed handlers, with pluggable envelope codecs
// (plaintext, Trove's SecureSerializer, Trove's conductor serializers, and an authenticated AEAD envelope).
// The wire details follow rpc.md §A; the codecs follow §C. See docs/rpc.md.
package rpc

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/trove-go/trove/pkg/config"
)

// Config holds the oslo.messaging options that shape the wire ([DEFAULT] and [oslo_messaging_rabbit]).
type Config struct {
	TransportURL     string        // [DEFAULT] transport_url
	ControlExchange  string        // [DEFAULT] control_exchange
	ResponseTimeout  time.Duration // [DEFAULT] rpc_response_timeout
	DurableQueues    bool          // amqp_durable_queues
	AutoDelete       bool          // amqp_auto_delete
	HAQueues         bool          // rabbit_ha_queues
	TransientTTL     time.Duration // rabbit_transient_queues_ttl
	Prefetch         int           // rabbit_qos_prefetch_count
	Heartbeat        time.Duration // heartbeat_timeout_threshold (0 disables)
	RetryInterval    time.Duration // rabbit_retry_interval
	RetryBackoff     time.Duration // rabbit_retry_backoff
	IntervalMax      time.Duration // rabbit_interval_max
	MandatoryReplies bool          // direct_mandatory_flag
	MissingConsumer  time.Duration // kombu_missing_consumer_retry_timeout
	// PassiveControlExchange (ours, [guest_broker] restricted_account): declare the control exchange passively,
	// for an account that may not configure it (a guest's own broker account, docs/deploy.md). The exchange
	// must exist: the control plane declares it. Nothing changes on the wire for a Python peer.
	PassiveControlExchange bool
}

// ConfigFrom reads the messaging options with oslo.messaging's defaults. Conversion errors are collected in
// f.Err().
func ConfigFrom(f *config.File) Config {
	const r = "oslo_messaging_rabbit"
	return Config{
		TransportURL:     f.String("DEFAULT", "transport_url", "rabbit://"),
		ControlExchange:  f.String("DEFAULT", "control_exchange", "openstack"),
		ResponseTimeout:  f.Seconds("DEFAULT", "rpc_response_timeout", 60),
		DurableQueues:    f.Bool(r, "amqp_durable_queues", false),
		AutoDelete:       f.Bool(r, "amqp_auto_delete", false),
		HAQueues:         f.Bool(r, "rabbit_ha_queues", false),
		TransientTTL:     f.Seconds(r, "rabbit_transient_queues_ttl", 1800),
		Prefetch:         f.Int(r, "rabbit_qos_prefetch_count", 0),
		Heartbeat:        f.Seconds(r, "heartbeat_timeout_threshold", 60),
		RetryInterval:    f.Seconds(r, "rabbit_retry_interval", 1),
		RetryBackoff:     f.Seconds(r, "rabbit_retry_backoff", 2),
		IntervalMax:      f.Seconds(r, "rabbit_interval_max", 30),
		MandatoryReplies: f.Bool(r, "direct_mandatory_flag", true),
		MissingConsumer:  f.Seconds(r, "kombu_missing_consumer_retry_timeout", 60),

		PassiveControlExchange: f.Bool("guest_broker", "restricted_account", false),
	}
}

// amqpURIs turns an oslo transport_url (rabbit://u:p@h1:5672,u:p@h2/vhost) into amqp091 URIs, one per host.
func amqpURIs(transportURL string) ([]string, error) {
	u, err := url.Parse(transportURL)
	if err != nil {
		return nil, fmt.Errorf("rpc: parsing transport_url: invalid URL")
	}
	scheme := "amqp"
	switch u.Scheme {
	case "rabbit", "amqp":
	case "rabbit+ssl", "amqps":
		scheme = "amqps"
	default:
		return nil, fmt.Errorf("rpc: transport_url scheme %q is not supported (want rabbit://)", u.Scheme)
	}
	vhost := strings.TrimPrefix(u.Path, "/")
	if vhost == "" {
		vhost = "/"
	}
	// url.Parse keeps only the first userinfo; split the raw host list ourselves.
	rest := strings.TrimPrefix(transportURL, u.Scheme+"://")
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	if rest == "" {
		rest = "guest:guest@localhost:5672"
	}
	var out []string
	for _, h := range strings.Split(rest, ",") {
		if !strings.Contains(h, "@") {
			h = "guest:guest@" + h
		}
		out = append(out, scheme+"://"+h+"/"+url.PathEscape(vhost))
	}
	return out, nil
}
