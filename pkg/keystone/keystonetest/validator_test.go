package keystonetest_test

import (
	"fmt"
	"testing"

	"github.com/trove-go/trove/pkg/keystone"
	"github.com/trove-go/trove/pkg/keystone/keystonetest"
)

func TestStaticValidator(t *testing.T) {
	v := keystonetest.StaticValidator{Tokens: map[string]keystone.Token{"t1": {UserID: "u1", Roles: []string{"member"}}}}
	tok, err := v.Validate(t.Context(), "t1")
	if err != nil || tok.UserID != "u1" {
		t.Fatalf("got %v, %v", tok, err)
	}
	tok.Roles[0] = "admin" // the caller's copy only
	tok.IsAdmin = true
	if again, _ := v.Validate(t.Context(), "t1"); again.Roles[0] != "member" || again.IsAdmin {
		t.Error("StaticValidator handed out shared state")
	}
	if _, err := v.Validate(t.Context(), "nope"); err != keystone.ErrInvalidToken {
		t.Errorf("unknown token: %v", err)
	}
	down := keystonetest.StaticValidator{Err: fmt.Errorf("%w: test", keystone.ErrUnavailable)}
	if _, err := down.Validate(t.Context(), "t1"); err == nil || err.Error() != "identity service unavailable: test" {
		t.Errorf("Err not returned: %v", err)
	}
}
