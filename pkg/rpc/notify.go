package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/trove-go/trove/pkg/config"
)

// NotifyConfig is [oslo_messaging_notifications]: which driver emits notifications, on which topics, and the
// broker they go to.
type NotifyConfig struct {
	// Driver is the last of `driver` (oslo: a list of stevedore names): messagingv2 and messaging publish on
	// the broker (both as the 2.0 envelope: Trove's consumers read that), log writes one log line per
	// notification, noop or "" emits nothing.
	Driver string
	Topics []string // topics (default notifications): routing key <topic>.<priority> on the control exchange
	// TransportURL is the notifications' broker; "" means [DEFAULT] transport_url (oslo's default).
	TransportURL string
}

// NotifyConfigFrom reads [oslo_messaging_notifications]; an unknown driver is an error.
func NotifyConfigFrom(f *config.File) (NotifyConfig, error) {
	const s = "oslo_messaging_notifications"
	c := NotifyConfig{Topics: f.List(s, "topics", []string{"notifications"}), TransportURL: f.String(s, "transport_url", "")}
	if d := f.List(s, "driver", nil); len(d) > 0 {
		c.Driver = d[len(d)-1]
	}
	switch c.Driver {
	case "", "noop", "log", "messaging", "messagingv2":
	default:
		return c, fmt.Errorf("[%s] driver = %q: want messagingv2, messaging, log or noop", s, c.Driver)
	}
	return c, nil
}

// OnBroker reports whether the driver publishes on the broker.
func (c NotifyConfig) OnBroker() bool { return c.Driver == "messaging" || c.Driver == "messagingv2" }

// Notifier publishes oslo.messaging notifications (rpc.md §A.8) on a transport: the 2.0 envelope on the control
// exchange with routing key <topic>.<priority> for each topic, to a queue of that name it declares like oslo
// (consumers that start later still get them), context plain (never encrypted), publisher confirmed.
type Notifier struct {
	T      *Transport
	Topics []string
	Now    func() time.Time // nil: time.Now
}

// Notification is one message: oslo's inner keys.
type Notification struct {
	PublisherID string // e.g. "taskmanager.<host>"
	EventType   string // e.g. "trove.instance.create"
	Priority    string // INFO, WARN, ERROR
	Payload     any
}

// Notify publishes n on every topic with rc as its context.
func (n *Notifier) Notify(ctx context.Context, rc Context, m Notification) error {
	now := time.Now
	if n.Now != nil {
		now = n.Now
	}
	priority := strings.ToUpper(m.Priority)
	if priority == "" {
		priority = "INFO"
	}
	inner := map[string]any{
		"message_id": uuid.NewString(), "publisher_id": m.PublisherID, "event_type": m.EventType,
		"priority": priority, "payload": m.Payload, "timestamp": now().UTC().Format("2006-01-02 15:04:05.000000"),
	}
	rc.Notification = nil // a notification's context never carries another notification (Trove deletes it)
	rcJSON, err := json.Marshal(rc)
	if err != nil {
		return err
	}
	ctxFields, err := flattenContext(rcJSON)
	if err != nil {
		return err
	}
	raw := make(map[string]json.RawMessage, len(inner)+len(ctxFields))
	for k, v := range inner {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("rpc: encoding notification %s: %w", m.EventType, err)
		}
		raw[k] = b
	}
	for k, v := range ctxFields {
		raw["_context_"+k] = v
	}
	body, err := encodeInner(raw)
	if err != nil {
		return err
	}
	for _, topic := range n.Topics {
		key := topic + "." + strings.ToLower(priority)
		if err := n.T.declareNotificationQueue(ctx, key); err != nil {
			return fmt.Errorf("rpc: notification %s: %w", m.EventType, err)
		}
		if err := n.T.publish(ctx, n.T.cfg.ControlExchange, "topic", key, basePublishing(body)); err != nil {
			return fmt.Errorf("rpc: notification %s: %w", m.EventType, err)
		}
	}
	return nil
}

// declareNotificationQueue declares the queue named key bound to the control exchange with key, once per
// connection, as oslo's notifier does (impl_rabbit _publish_and_creates_default_queue: durable and auto-delete as
// the exchange, no expiry): notifications sent before a consumer first listens wait for it.
func (t *Transport) declareNotificationQueue(ctx context.Context, key string) error {
	conn, err := t.connection(ctx)
	if err != nil {
		return err
	}
	t.mu.Lock()
	done := t.declared["queue:"+key]
	t.mu.Unlock()
	if done {
		return nil
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("rpc: opening channel: %w", err)
	}
	defer ch.Close()
	if err := t.declareExchange(ch, t.cfg.ControlExchange, "topic"); err != nil {
		return err
	}
	if _, err := ch.QueueDeclare(key, t.cfg.DurableQueues, t.cfg.AutoDelete, false, false, t.queueArgs(false)); err != nil {
		return fmt.Errorf("rpc: declaring notification queue %s: %w", key, err)
	}
	if err := ch.QueueBind(key, key, t.cfg.ControlExchange, false, nil); err != nil {
		return fmt.Errorf("rpc: binding notification queue %s: %w", key, err)
	}
	t.mu.Lock()
	t.declared["queue:"+key] = true
	t.mu.Unlock()
	return nil
}
