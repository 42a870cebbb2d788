package logging

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

// A log line stays bounded whatever a request carries, and secret-named fields never reach it.
func TestBoundedFormatter(t *testing.T) {
	var buf bytes.Buffer
	log := logrus.New()
	log.SetOutput(&buf)
	log.SetFormatter(Bounded(&logrus.TextFormatter{DisableTimestamp: true}))
	huge := strings.Repeat("p", 1<<20)
	log.WithFields(logrus.Fields{
		"path":          "/" + huge,
		"password":      "hunter2-secret",
		"root_password": "root-secret",
		"rpc_key":       "key-secret",
		"count":         3,
		"list":          []string{huge},
	}).WithError(errors.New(huge)).Info(huge)
	line := buf.String()
	if len(line) > 8*MaxValue {
		t.Fatalf("log line is %d bytes for a 1 MiB message", len(line))
	}
	for _, s := range []string{"hunter2-secret", "root-secret", "key-secret"} {
		if strings.Contains(line, s) {
			t.Errorf("log line contains %q: %.300s", s, line)
		}
	}
	for _, s := range []string{"password=\"***\"", "count=3", "…"} {
		if !strings.Contains(line, s) {
			t.Errorf("log line lacks %q: %.300s", s, line)
		}
	}
	// The entry the caller holds is not changed.
	e := log.WithField("name", huge)
	e.Info("x")
	if len(e.Data["name"].(string)) != len(huge) {
		t.Error("formatter modified the caller's fields")
	}
}
