package handlers

import (
	"errors"
	"testing"

	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

func TestRemoteKinds(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{datastore.Errorf(datastore.KindBadRequest, "bad"), "BadRequest"},
		{datastore.Errorf(datastore.KindUserNotFound, "u"), "UserNotFound"},
		{datastore.Errorf(datastore.KindOverQuota, "full"), "VolumeSizeExceedsLimit"},
		{errors.New("psql: exit status 2"), "GuestError"},
	}
	for _, c := range cases {
		err := remote(c.err)
		var re *rpc.RemoteError
		if !errors.As(err, &re) || re.Class != c.want || re.Module != rpc.ModuleTrove || re.Message != c.err.Error() {
			t.Errorf("%v → %#v, want class %s", c.err, err, c.want)
		}
	}
	if remote(nil) != nil {
		t.Fatal("nil error mapped")
	}
}
