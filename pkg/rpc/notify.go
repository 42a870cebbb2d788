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

// Notifier emits oslo.messaging notifications (driver messagingv2, rpc.md §A.8): published to the control
// exchange with routing key <topic>.<priority> for each topic, context plain (never encrypted).
type Notifier struct {
	T           *Transport
	Topics      []string // [oslo_messaging_notifications] topics
	PublisherID string   // e.g. "taskmanager.<host>"
	Now         func() time.Time
}

// NotificationsEnabled reports whether [oslo_messaging_notifications] driver selects messaging, and the topics.
func NotificationsEnabled(f *config.File) (bool, []string) {
	topics := f.List("oslo_messaging_notifications", "topics", []string{"notifications"})
	for _, d := range f.List("oslo_messaging_notifications", "driver", nil) {
		if d == "messagingv2" || d == "messaging" {
			return true, topics
		}
	}
	return false, topics
}

// Notify publishes one notification with priority "INFO", "WARN" or "ERROR" (publisher-confirmed).
func (n *Notifier) Notify(ctx context.Context, rc Context, priority, eventType string, payload any) error {
	now := time.Now
	if n.Now != nil {
		now = n.Now
	}
	p, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("rpc: encoding notification payload: %w", err)
	}
	rcJSON, err := json.Marshal(rc)
	if err != nil {
		return err
	}
	ctxFields, err := flattenContext(rcJSON)
	if err != nil {
		return err
	}
	inner := map[string]json.RawMessage{
		"message_id": jstr(uuid.NewString()), "publisher_id": jstr(n.PublisherID), "event_type": jstr(eventType),
		"priority": jstr(strings.ToUpper(priority)), "payload": p,
		"timestamp": jstr(now().UTC().Format("2006-01-02 15:04:05.000000")),
	}
	for k, v := range ctxFields {
		inner["_context_"+k] = v
	}
	body, err := encodeInner(inner)
	if err != nil {
		return err
	}
	for _, topic := range n.Topics {
		key := topic + "." + strings.ToLower(priority)
		if err := n.T.publish(ctx, n.T.cfg.ControlExchange, "topic", key, basePublishing(body)); err != nil {
			return fmt.Errorf("rpc: notification %s: %w", eventType, err)
		}
	}
	return nil
}
