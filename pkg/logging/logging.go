// Package logging configures logrus for every service: one line per event, text format with fields, and a
// request id carried through context.Context so handlers and RPC dispatch can log with it.
package logging

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/redact"
)

// Setup configures the standard logger. file "" logs to stderr.
func Setup(service string, debug bool, file string) (*logrus.Entry, error) {
	logrus.SetFormatter(Bounded(&logrus.TextFormatter{FullTimestamp: true, DisableQuote: false}))
	logrus.SetLevel(logrus.InfoLevel)
	if debug {
		logrus.SetLevel(logrus.DebugLevel)
	}
	var out io.Writer = os.Stderr
	if file != "" {
		f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, fmt.Errorf("opening log file %s: %w (check [DEFAULT] log_file and directory permissions)", file, err)
		}
		out = f
	}
	logrus.SetOutput(out)
	return logrus.WithField("service", service), nil
}

// Options is the subset of a configuration file the logger reads; *config.File satisfies it.
type Options interface {
	Bool(section, key string, def bool) bool
	String(section, key, def string) string
}

// FromConfig sets up logging from Trove's [DEFAULT] debug and log_file options.
func FromConfig(service string, o Options) (*logrus.Entry, error) {
	return Setup(service, o.Bool("DEFAULT", "debug", false), o.String("DEFAULT", "log_file", ""))
}

type ctxKey struct{}

// WithRequestID returns a context carrying the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// MaxValue bounds the message and each field value of a log line (in characters), so no request can make one
// line grow with its input.
const MaxValue = 4096

// Bounded wraps a formatter: the message and every field value are cut to MaxValue characters, and the value
// of a field named like a secret (redact.Secret: password, *_key, token …) is replaced by redact.Mask.
func Bounded(inner logrus.Formatter) logrus.Formatter { return bounded{inner} }

type bounded struct{ inner logrus.Formatter }

func (f bounded) Format(e *logrus.Entry) ([]byte, error) {
	c := *e
	c.Message = redact.Trunc(e.Message, MaxValue)
	c.Data = make(logrus.Fields, len(e.Data))
	for k, v := range e.Data {
		c.Data[k] = boundValue(k, v)
	}
	return f.inner.Format(&c)
}

func boundValue(key string, v any) any {
	if redact.Secret(key) {
		return redact.Mask
	}
	switch x := v.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return v
	case string:
		return redact.Trunc(x, MaxValue)
	case error:
		return redact.Trunc(x.Error(), MaxValue)
	case fmt.Stringer:
		return redact.Trunc(x.String(), MaxValue)
	}
	if s := fmt.Sprint(v); len(s) > MaxValue {
		return redact.Trunc(s, MaxValue)
	}
	return v
}
