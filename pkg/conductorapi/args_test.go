package conductorapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestHeartbeatWire(t *testing.T) {
	a := HeartbeatArgs{InstanceID: "i1", Payload: HeartbeatPayload{ServiceStatus: "healthy"},
		Sent: Sent(time.Unix(1767607202, 123456000))}
	b, _ := json.Marshal(a)
	want := `{"instance_id":"i1","payload":{"service_status":"healthy"},"sent":1767607202.123456}`
	if string(b) != want {
		t.Fatalf("got %s", b)
	}
	for _, s := range []string{"healthy", "building", "shutdown", "crashed", "failed to spawn"} {
		a.Payload.ServiceStatus = s
		if err := a.Validate(); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	a.Payload.ServiceStatus = "HEALTHY"
	if err := a.Validate(); err == nil {
		t.Fatal("upper-case status accepted")
	}
}

func TestUpdateBackupOmitsUnset(t *testing.T) {
	st := "COMPLETED"
	b, _ := json.Marshal(UpdateBackupArgs{InstanceID: "i", BackupID: "b", Sent: 1, State: &st})
	if strings.Contains(string(b), "size") || !strings.Contains(string(b), `"state":"COMPLETED"`) {
		t.Fatalf("got %s", b)
	}
	if err := (NotifyEndArgs{}).Validate(); err == nil {
		t.Fatal("notification without class accepted")
	}
}
