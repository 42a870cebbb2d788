package handlers

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/rpc/rpctest"
	"github.com/trove-go/trove/pkg/testenv"
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

// TestOrder pins how every guest method is ordered against the instance's other messages: a new method must be
// classified here on purpose; unknown methods are writes.
func TestOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := rpc.Dial(ctx, rpctest.Config(testenv.TransportURL(t), testenv.UniqueName(t, "trove-test")), logrus.NewEntry(logrus.New()))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	h := &Handlers{}
	h.Register(tr.NewServer(rpc.ServerConfig{Topic: testenv.UniqueName(t, "guestagent"), Order: h.Order}))
	want := map[string]rpc.Ordering{
		guestapi.MethodRPCPing: rpc.Unordered, guestapi.MethodGetFilesystemStats: rpc.Unordered,

		guestapi.MethodListDatabases: rpc.Read, guestapi.MethodListUsers: rpc.Read, guestapi.MethodGetUser: rpc.Read,
		guestapi.MethodListAccess: rpc.Read, guestapi.MethodIsRootEnabled: rpc.Read, guestapi.MethodPreUpgrade: rpc.Read,

		guestapi.MethodPrepare: rpc.Write, guestapi.MethodRestart: rpc.Write, guestapi.MethodStopDB: rpc.Write,
		guestapi.MethodResizeFS: rpc.Write, guestapi.MethodCreateDatabase: rpc.Write, guestapi.MethodDeleteDatabase: rpc.Write,
		guestapi.MethodCreateUser: rpc.Write, guestapi.MethodUpdateAttributes: rpc.Write, guestapi.MethodDeleteUser: rpc.Write,
		guestapi.MethodChangePasswords: rpc.Write, guestapi.MethodGrantAccess: rpc.Write, guestapi.MethodRevokeAccess: rpc.Write,
		guestapi.MethodEnableRoot: rpc.Write, guestapi.MethodEnableRootWithPassword: rpc.Write, guestapi.MethodDisableRoot: rpc.Write,
		guestapi.MethodUpgrade: rpc.Write, guestapi.MethodPostUpgrade: rpc.Write, guestapi.MethodRotateRPCKey: rpc.Write,
		guestapi.MethodUpdateOverrides: rpc.Write, guestapi.MethodApplyOverrides: rpc.Write,
		guestapi.MethodResetConfiguration: rpc.Write, guestapi.MethodStartDBWithConfChanges: rpc.Write,
		guestapi.MethodCreateBackup: rpc.Write, guestapi.MethodGetRecoveryWindow: rpc.Unordered,
		guestapi.MethodGetContentManifest: rpc.Read,

		guestapi.MethodGetReplicaContext: rpc.Write, guestapi.MethodAttachReplica: rpc.Write,
		guestapi.MethodDetachReplica: rpc.Write, guestapi.MethodMakeReadOnly: rpc.Write,
		guestapi.MethodGetLatestTxnID: rpc.Read, guestapi.MethodWaitForTxn: rpc.Read,

		guestapi.MethodGuestLogList: rpc.Read, guestapi.MethodGuestLogAction: rpc.Write,
	}
	for m, o := range h.orders {
		if w, ok := want[m]; !ok || w != o {
			t.Errorf("%s is %s, want %v (classified: %v)", m, o, w, ok)
		}
	}
	for m, o := range want {
		if got := h.Order(m); got != o {
			t.Errorf("Order(%s) = %s, want %s", m, got, o)
		}
	}
	for _, m := range []string{"no_such_method"} {
		if got := h.Order(m); got != rpc.Write {
			t.Errorf("unknown method %s is %s, want write", m, got)
		}
	}
}
