package flows

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// brokerQueues lists the test broker's queues whose name starts with prefix (rabbitmqctl, as pkg/rpc's fault
// test: the fanout queues have random names, so only a listing finds them).
func brokerQueues(t testing.TB, prefix string) []string {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", "-q", "list_queues", "--no-table-headers", "name").Output()
	if err != nil {
		t.Fatalf("rabbitmqctl list_queues: %v (this test needs rabbitmqctl access to the test broker)", err)
	}
	var found []string
	for _, n := range strings.Fields(string(out)) {
		if strings.HasPrefix(n, prefix) {
			found = append(found, n)
		}
	}
	return found
}

// assertNoGuestQueues fails when any queue of the instance's guest (guestagent.<id>, guestagent.<id>.<id>,
// guestagent.<id>_fanout_*) is left on the broker. A fanout queue of a killed guest is auto-deleted by the broker
// once it sees the connection close, so that one is waited for (at most 10 s).
func assertNoGuestQueues(t testing.TB, id string) {
	t.Helper()
	var left []string
	for i := 0; i < 40; i++ {
		if left = brokerQueues(t, "guestagent."+id); len(left) == 0 {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("queues left on the broker after delete: %v", left)
}
