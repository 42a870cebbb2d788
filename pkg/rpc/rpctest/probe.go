package rpctest

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Probe tries broker operations as the account of a transport_url, each on a channel of its own, and returns
// the broker's answer (nil: allowed), for tests and audits of broker permissions (a guest's own account, issue
// 12). It never destroys other clients' messages: a consume that succeeds is cancelled without acking, so the
// broker requeues what it delivered; published bodies are not oslo messages (receivers drop them as malformed).
type Probe struct{ conn *amqp.Connection }

// NewProbe connects with transportURL (a single-host rabbit:// URL).
func NewProbe(transportURL string) (*Probe, error) {
	uri, err := amqpURI(transportURL)
	if err != nil {
		return nil, err
	}
	conn, err := amqp.Dial(uri)
	if err != nil {
		return nil, fmt.Errorf("rpc probe: %w", err)
	}
	return &Probe{conn: conn}, nil
}

// Close closes the probe's connection.
func (p *Probe) Close() error { return p.conn.Close() }

// AccessRefused reports whether err is the broker's ACCESS_REFUSED (403).
func AccessRefused(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.AccessRefused
}

func (p *Probe) with(fn func(ch *amqp.Channel) error) error {
	ch, err := p.conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	return fn(ch)
}

// DeclareQueue declares a non-durable, auto-delete queue (passive false).
func (p *Probe) DeclareQueue(name string) error {
	return p.with(func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(name, false, true, false, false, nil)
		return err
	})
}

// DeclareExchange declares an exchange (passive false, durable false).
func (p *Probe) DeclareExchange(name, kind string) error {
	return p.with(func(ch *amqp.Channel) error { return ch.ExchangeDeclare(name, kind, false, false, false, false, nil) })
}

// DeleteQueue deletes a queue (if-unused and if-empty false).
func (p *Probe) DeleteQueue(name string) error {
	return p.with(func(ch *amqp.Channel) error { _, err := ch.QueueDelete(name, false, false, false); return err })
}

// DeleteExchange deletes an exchange.
func (p *Probe) DeleteExchange(name string) error {
	return p.with(func(ch *amqp.Channel) error { return ch.ExchangeDelete(name, false, false) })
}

// Bind binds queue to exchange with key.
func (p *Probe) Bind(queue, exchange, key string) error {
	return p.with(func(ch *amqp.Channel) error { return ch.QueueBind(queue, key, exchange, false, nil) })
}

// Consume starts and cancels a consumer on queue (deliveries are requeued).
func (p *Probe) Consume(queue string) error {
	return p.with(func(ch *amqp.Channel) error {
		_, err := ch.Consume(queue, "", false, false, false, false, nil)
		return err
	})
}

// Publish publishes a body that is not an oslo message to exchange with key in confirm mode and returns what
// the broker answered: a refused publish closes the channel (the returned *amqp.Error).
func (p *Probe) Publish(ctx context.Context, exchange, key string) error {
	return p.with(func(ch *amqp.Channel) error {
		closed := ch.NotifyClose(make(chan *amqp.Error, 1))
		if err := ch.Confirm(false); err != nil {
			return err
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false,
			amqp.Publishing{ContentType: "application/json", Body: []byte(`{"rpc-probe": "not an oslo message"}`)})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		select {
		case e := <-closed:
			if e != nil {
				return e
			}
			return amqp.ErrClosed
		case <-dc.Done():
			if dc.Acked() {
				return nil
			}
			select { // not confirmed: the channel is closing; return why
			case e := <-closed:
				if e != nil {
					return e
				}
			case <-time.After(time.Second):
			}
			return errors.New("rpc probe: publish not confirmed")
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}
