package flows

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/compute"
)

var errBadImage = errors.New("bad image")

func TestRetryBudget(t *testing.T) {
	transient := errors.New("broker unreachable")
	cases := []struct {
		name      string
		errs      []error // returned by successive attempts; nil = success
		wantCalls int
		wantErr   error // nil: success
	}{
		{"success at once", []error{nil}, 1, nil},
		{"ours, then success", []error{transient, nil}, 2, nil},
		{"ours until the budget is spent", []error{transient, transient, transient, transient}, 3, transient},
		{"user's fault stops at once", []error{permanent(errBadImage)}, 1, errBadImage},
		{"missing compute object stops at once", []error{fmt.Errorf("image x: %w", compute.ErrNotFound)}, 1, compute.ErrNotFound},
		{"missing catalog row stops at once", []error{fmt.Errorf("x: %w", catalog.ErrNotFound)}, 1, catalog.ErrNotFound},
	}
	m := New(Deps{Log: logrus.New(), Config: Config{RetryBudget: 3, RetryDelay: time.Millisecond}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			err := m.retry(context.Background(), "i-1", "step", func() error {
				calls++
				return c.errs[min(calls, len(c.errs))-1]
			})
			if calls != c.wantCalls {
				t.Fatalf("%d calls, want %d", calls, c.wantCalls)
			}
			if (c.wantErr == nil) != (err == nil) || (c.wantErr != nil && !errors.Is(err, c.wantErr)) {
				t.Fatalf("error %v, want %v", err, c.wantErr)
			}
		})
	}
}
