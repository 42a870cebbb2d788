// Package logging configures logrus for every service: one line per event, text format with fields, and a
// request id carried through context.Context so handlers and RPC dispatch can log with it.
package logging

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sirupsen/logrus"
)

// Setup configures the standard logger. file "" logs to stderr.
func Setup(service string, debug bool, file string) (*logrus.Entry, error) {
	logrus.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableQuote: false})
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

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// From returns a logger entry with the context's request id attached.
func From(ctx context.Context, base *logrus.Entry) *logrus.Entry {
	if base == nil {
		base = logrus.NewEntry(logrus.StandardLogger())
	}
	if id := RequestID(ctx); id != "" {
		return base.WithField("request_id", id)
	}
	return base
}
