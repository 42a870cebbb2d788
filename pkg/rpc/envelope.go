package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// request is an inner oslo message (rpc.md §A.3) after envelope parsing, before the codec.
type request struct {
	Method    string
	Namespace string
	Version   string
	MsgID     string
	ReplyQ    string
	UniqueID  string
	Args      map[string]json.RawMessage
	Ctx       map[string]json.RawMessage // _context_* with the prefix stripped
}

type reply struct {
	Result  json.RawMessage
	Failure *string
	Ending  bool
	MsgID   string
}

const maxBody = 16 << 20

// encodeInner wraps an inner message in the oslo.version 2.0 envelope.
func encodeInner(inner map[string]json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(inner)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Version string `json:"oslo.version"`
		Message string `json:"oslo.message"`
	}{"2.0", string(b)})
}

func jstr(s string) json.RawMessage { b, _ := json.Marshal(s); return b }

// joinObject renders name → raw JSON as one JSON object without re-validating the values.
func joinObject(m map[string]json.RawMessage) []byte {
	n := 2
	for k, v := range m {
		n += len(k) + len(v) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	first := true
	for k, v := range m {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, jstr(k)...)
		b = append(b, ':')
		b = append(b, v...)
	}
	return append(b, '}')
}

func encodeRequest(r request) ([]byte, error) {
	args, err := json.Marshal(r.Args)
	if err != nil {
		return nil, err
	}
	if r.Args == nil {
		args = []byte("{}")
	}
	inner := map[string]json.RawMessage{
		"method": jstr(r.Method), "args": args, "version": jstr(r.Version), "_unique_id": jstr(r.UniqueID),
	}
	if r.Namespace != "" {
		inner["namespace"] = jstr(r.Namespace)
	}
	if r.MsgID != "" {
		inner["_msg_id"] = jstr(r.MsgID)
		inner["_reply_q"] = jstr(r.ReplyQ)
		inner["_timeout"] = json.RawMessage("null")
	}
	for k, v := range r.Ctx {
		inner["_context_"+k] = v
	}
	return encodeInner(inner)
}

// decodeInner unwraps the 2.0 envelope; a body without both envelope keys is an un-enveloped 1.0 message.
func decodeInner(body []byte) (map[string]json.RawMessage, error) {
	if len(body) > maxBody {
		return nil, errors.New("message too large")
	}
	var env struct {
		Version *string `json:"oslo.version"`
		Message *string `json:"oslo.message"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Version == nil || env.Message == nil {
		// not (a well-formed) 2.0 envelope: an un-enveloped 1.0 message is a plain object
		var outer map[string]json.RawMessage
		if err := json.Unmarshal(body, &outer); err != nil {
			return nil, fmt.Errorf("body is not a JSON object: %w", err)
		}
		if _, ok := outer["oslo.version"]; ok {
			return nil, errors.New("malformed oslo envelope")
		}
		return outer, nil
	}
	ver, msg := *env.Version, *env.Message
	major, minor, ok := parseVersion(ver)
	if !ok || major != 2 || minor > 0 {
		return nil, fmt.Errorf("unsupported envelope version %q", ver)
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal([]byte(msg), &inner); err != nil {
		return nil, fmt.Errorf("oslo.message is not a JSON object: %w", err)
	}
	return inner, nil
}

func optString(m map[string]json.RawMessage, k string) (string, error) {
	v, ok := m[k]
	if !ok || string(v) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("%s is not a string", k)
	}
	return s, nil
}

func decodeRequest(body []byte) (request, error) {
	inner, err := decodeInner(body)
	if err != nil {
		return request{}, err
	}
	var r request
	for _, f := range []struct {
		k string
		p *string
	}{{"method", &r.Method}, {"namespace", &r.Namespace}, {"version", &r.Version}, {"_msg_id", &r.MsgID},
		{"_reply_q", &r.ReplyQ}, {"_unique_id", &r.UniqueID}} {
		if *f.p, err = optString(inner, f.k); err != nil {
			return request{}, err
		}
	}
	if r.Method == "" {
		return request{}, errors.New("message has no method")
	}
	if r.Version == "" {
		r.Version = "1.0"
	}
	if a, ok := inner["args"]; ok && string(a) != "null" {
		if err := json.Unmarshal(a, &r.Args); err != nil {
			return request{}, errors.New("args is not an object")
		}
	}
	if r.Args == nil {
		r.Args = map[string]json.RawMessage{}
	}
	r.Ctx = map[string]json.RawMessage{}
	for k, v := range inner {
		if strings.HasPrefix(k, "_context_") {
			r.Ctx[strings.TrimPrefix(k, "_context_")] = v
		}
	}
	return r, nil
}

func encodeReply(msgID, uniqueID string, result json.RawMessage, failure string) ([]byte, error) {
	if len(result) == 0 {
		result = json.RawMessage("null")
	}
	f := json.RawMessage("null")
	if failure != "" {
		f = jstr(failure)
	}
	return encodeInner(map[string]json.RawMessage{"result": result, "failure": f, "ending": json.RawMessage("true"),
		"_msg_id": jstr(msgID), "_unique_id": jstr(uniqueID)})
}

func decodeReply(body []byte) (reply, error) {
	inner, err := decodeInner(body)
	if err != nil {
		return reply{}, err
	}
	var r reply
	if r.MsgID, err = optString(inner, "_msg_id"); err != nil {
		return reply{}, err
	}
	r.Result = inner["result"]
	if f, ok := inner["failure"]; ok && string(f) != "null" {
		var s string
		if err := json.Unmarshal(f, &s); err != nil {
			// oslo always sends a JSON string; tolerate an object
			s = string(f)
		}
		r.Failure = &s
	}
	if e, ok := inner["ending"]; ok {
		_ = json.Unmarshal(e, &r.Ending)
	} else {
		r.Ending = true // pre-Ocata replies
	}
	return r, nil
}

// parseVersion parses "major.minor" (minor optional).
func parseVersion(v string) (major, minor int, ok bool) {
	a, b, found := strings.Cut(v, ".")
	major, err := strconv.Atoi(a)
	if err != nil || major < 0 {
		return 0, 0, false
	}
	if found {
		if minor, err = strconv.Atoi(b); err != nil || minor < 0 {
			return 0, 0, false
		}
	}
	return major, minor, true
}

// versionCompatible is oslo's version_is_compatible(endpoint, requested).
func versionCompatible(endpoint, requested string) bool {
	em, en, ok1 := parseVersion(endpoint)
	rm, rn, ok2 := parseVersion(requested)
	return ok1 && ok2 && em == rm && rn <= en
}
