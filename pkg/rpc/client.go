package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Target names where a client sends: topic (queue), optional server (queue topic.server), the version the
// client requests, and fanout (all servers of the topic, casts only).
type Target struct {
	Topic     string
	Server    string
	Version   string
	Namespace string
	Fanout    bool
}

// Client sends calls and casts to one target through one codec.
type Client struct {
	t      *Transport
	target Target
	codec  Codec
}

// Client returns a client for target; codec nil means PlainCodec.
func (t *Transport) Client(target Target, codec Codec) *Client {
	if codec == nil {
		codec = PlainCodec()
	}
	if target.Version == "" {
		target.Version = "1.0"
	}
	return &Client{t: t, target: target, codec: codec}
}

// At returns a client for the same target and codec that requests version (oslo's prepare(version=…)); ""
// keeps the target's.
func (c *Client) At(version string) *Client {
	if version == "" || version == c.target.Version {
		return c
	}
	cp := *c
	cp.target.Version = version
	return &cp
}

// VersionCompatible is oslo's version_is_compatible(endpoint, requested): same major, requested minor ≤ the
// endpoint's. It is also how a client checks a version against its version cap (can_send_version).
func VersionCompatible(endpoint, requested string) bool {
	return versionCompatible(endpoint, requested)
}

// Validator is implemented by every RPC argument struct.
type Validator interface{ Validate() error }

func (c *Client) routing() (exchange, kind, key string) {
	switch {
	case c.target.Fanout:
		return c.target.Topic + "_fanout", "fanout", ""
	case c.target.Server != "":
		return c.t.cfg.ControlExchange, "topic", c.target.Topic + "." + c.target.Server
	}
	return c.t.cfg.ControlExchange, "topic", c.target.Topic
}

// argMap turns an argument struct into name → JSON.
func argMap(args any) (map[string]json.RawMessage, error) {
	if args == nil {
		return map[string]json.RawMessage{}, nil
	}
	if v, ok := args.(Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("rpc: invalid arguments: %w", err)
		}
	}
	b, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("rpc: encoding arguments: %w", err)
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("rpc: arguments must encode to a JSON object: %w", err)
	}
	return m, nil
}

func (c *Client) body(m Meta, rc Context, args any) ([]byte, error) {
	a, err := argMap(args)
	if err != nil {
		return nil, err
	}
	rcJSON, err := json.Marshal(rc)
	if err != nil {
		return nil, err
	}
	wargs, wctx, err := c.codec.EncodeRequest(m, a, rcJSON)
	if err != nil {
		return nil, fmt.Errorf("rpc: sealing %s: %w", m.Method, err)
	}
	return encodeRequest(request{Method: m.Method, Namespace: c.target.Namespace, Version: c.target.Version,
		MsgID: m.MsgID, ReplyQ: m.ReplyQ, UniqueID: hexID(), Args: wargs, Ctx: wctx})
}

// Cast sends a one-way message. nil means the broker confirmed it (publisher confirms); an error means it
// may not have been delivered. Casts are never re-sent after they may have left the process.
func (c *Client) Cast(ctx context.Context, rc Context, method string, args any) (err error) {
	start := time.Now()
	defer func() { c.t.observe("cast", method, err, start) }()
	body, err := c.body(Meta{Topic: c.target.Topic, Method: method}, rc, args)
	if err != nil {
		return err
	}
	ex, kind, key := c.routing()
	return c.t.publish(ctx, ex, kind, key, basePublishing(body))
}

// Call sends a request and waits for its reply, decoding the result into result (a pointer, or nil to
// discard). timeout 0 means rpc_response_timeout. A remote failure returns *RemoteError; no reply in time
// returns an error matching ErrTimeout.
func (c *Client) Call(ctx context.Context, rc Context, method string, args any, result any, timeout time.Duration) (err error) {
	start := time.Now()
	defer func() { c.t.observe("call", method, err, start) }()
	if c.target.Fanout {
		return fmt.Errorf("rpc: call %s: fanout targets accept casts only", method)
	}
	if timeout <= 0 {
		timeout = c.t.cfg.ResponseTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.t.ensureReplyQueue(ctx); err != nil {
		return c.timeoutOr(ctx, method, timeout, err)
	}
	m := Meta{Topic: c.target.Topic, Method: method, MsgID: hexID(), ReplyQ: c.t.replyQ}
	body, err := c.body(m, rc, args)
	if err != nil {
		return err
	}
	wait := make(chan reply, 1)
	c.t.callsMu.Lock()
	c.t.calls[m.MsgID] = wait
	c.t.callsMu.Unlock()
	defer func() {
		c.t.callsMu.Lock()
		delete(c.t.calls, m.MsgID)
		c.t.callsMu.Unlock()
	}()
	pub := basePublishing(body)
	pub.Expiration = strconv.FormatInt(timeout.Milliseconds(), 10)
	ex, kind, key := c.routing()
	// The confirm is awaited alongside the reply (a reply implies delivery), saving a broker round trip.
	dc, err := c.t.publishDeferred(ctx, ex, kind, key, pub)
	if err != nil {
		return c.timeoutOr(ctx, method, timeout, err)
	}
	confirmed := dc.Done()
	for {
		select {
		case <-confirmed:
			if !dc.Acked() {
				return fmt.Errorf("rpc: call %s: broker did not confirm the request (connection lost or nack)", method)
			}
			confirmed = nil
			continue
		case rep := <-wait:
			return c.finish(m, rep, result)
		case <-ctx.Done():
			return c.timeoutOr(ctx, method, timeout, ctx.Err())
		}
	}
}

func (c *Client) finish(m Meta, rep reply, result any) error {
	if rep.Failure != nil {
		return decodeFailure(*rep.Failure)
	}
	res, err := c.codec.DecodeResult(m, rep.Result)
	if err != nil {
		return fmt.Errorf("rpc: reply to %s: %w", m.Method, err)
	}
	if result == nil || len(res) == 0 {
		return nil
	}
	if err := json.Unmarshal(res, result); err != nil {
		return fmt.Errorf("rpc: decoding result of %s: %w", m.Method, err)
	}
	return nil
}

func (c *Client) timeoutOr(ctx context.Context, method string, timeout time.Duration, err error) error {
	if ctx.Err() == context.DeadlineExceeded {
		return &RemoteError{Class: ErrTimeout.Class, Module: ErrTimeout.Module,
			Message: fmt.Sprintf("Timed out waiting for a reply to %s on %s after %s", method, c.target.Topic, timeout)}
	}
	return err
}
