package datastore

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/trove-go/trove/pkg/guestapi"
)

func TestPaginate(t *testing.T) {
	items := []string{"a", "b", "c", "d"}
	id := func(s string) string { return s }
	ip := func(i int) *int { return &i }
	sp := func(s string) *string { return &s }
	cases := []struct {
		name string
		args guestapi.ListArgs
		want string
		next string
	}{
		{"all", guestapi.ListArgs{}, "abcd", ""},
		{"limit", guestapi.ListArgs{Limit: ip(2)}, "ab", "b"},
		{"marker", guestapi.ListArgs{Limit: ip(2), Marker: sp("b")}, "cd", ""},
		{"include marker", guestapi.ListArgs{Limit: ip(2), Marker: sp("b"), IncludeMarker: true}, "bc", "c"},
		{"marker between", guestapi.ListArgs{Marker: sp("bb")}, "cd", ""},
		{"exact fit", guestapi.ListArgs{Limit: ip(4)}, "abcd", ""},
		{"past end", guestapi.ListArgs{Marker: sp("z")}, "", ""},
	}
	for _, c := range cases {
		p := Paginate(items, id, c.args)
		next := ""
		if p.NextMarker != nil {
			next = *p.NextMarker
		}
		if strings.Join(p.Items, "") != c.want || next != c.next {
			t.Errorf("%s: got %v next %q", c.name, p.Items, next)
		}
	}
}

func TestVolume(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "f"), filepath.Join(dir, "hardlink")); err != nil {
		t.Fatal(err)
	}
	v := NewVolume(dir, 0.002) // ~2 MiB
	used, err := v.Used()
	if err != nil || used < 1<<20 || used > 1<<20+64<<10 {
		t.Fatalf("used = %d (hard link counted twice?) %v", used, err)
	}
	if over, _ := v.Over(); over {
		t.Fatal("1 MiB is over 2 MiB")
	}
	if err := os.WriteFile(filepath.Join(dir, "g"), make([]byte, 2<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := v.CheckRoom(); KindOf(err) != KindOverQuota {
		t.Fatalf("CheckRoom = %v", err)
	}
	v.SetSize(1)
	st, err := v.Stats()
	if err != nil || st.Total != 1 || st.BlockSize != 4096 || st.TotalBlocks != 1<<30/4096 || st.Free <= 0 || st.Used != 0 {
		t.Fatalf("stats %+v %v", st, err)
	}
	v.SetSize(0)
	if over, _ := v.Over(); over {
		t.Fatal("unlimited volume is over")
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		p := GeneratePassword(36)
		if !regexp.MustCompile(`^[A-Za-z0-9]{36}$`).MatchString(p) || seen[p] {
			t.Fatalf("password %q", p)
		}
		seen[p] = true
	}
}

func TestProcessStates(t *testing.T) {
	sleep, err := FindBinary("", "sleep", "/bin", "/usr/bin")
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{Name: "sleep", Log: logrus.NewEntry(logrus.StandardLogger())}
	if p.State() != NotStarted {
		t.Fatal("state before start")
	}
	if err := p.Start(Command{Path: sleep, Args: []string{"60"}, LogFile: filepath.Join(t.TempDir(), "log")}); err != nil {
		t.Fatal(err)
	}
	if p.State() != Alive || p.PID() == 0 {
		t.Fatal("not alive")
	}
	if err := p.Stop(5 * time.Second); err != nil || p.State() != Stopped {
		t.Fatalf("after Stop: %v %v", p.State(), err)
	}
	if err := p.Start(Command{Path: sleep, Args: []string{"60"}}); err != nil {
		t.Fatal(err)
	}
	_ = syscall.Kill(p.PID(), syscall.SIGKILL)
	for p.State() == Alive {
		time.Sleep(10 * time.Millisecond)
	}
	if p.State() != Died {
		t.Fatalf("after SIGKILL: %v", p.State())
	}
	if _, err := FindBinary("", "no-such-binary-xyz"); err == nil {
		t.Fatal("found a missing binary")
	}
}

func TestLeftoverServerIsTerminated(t *testing.T) {
	sleep, _ := FindBinary("", "sleep", "/bin", "/usr/bin")
	dir := t.TempDir()
	// a "server" left by an earlier agent, recorded in the pid file
	old := &Process{Name: "sleep", Log: logrus.NewEntry(logrus.StandardLogger())}
	if err := old.Start(Command{Path: sleep, Args: []string{"60"}}); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(old.PID())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// a process whose command line lacks Match is someone else's: left alone
	other := &Process{Name: "sleep", PIDFile: pidFile, Match: "/nowhere", Log: logrus.NewEntry(logrus.StandardLogger())}
	if err := other.Start(Command{Path: sleep, Args: []string{"60"}}); err != nil {
		t.Fatal(err)
	}
	_ = other.Stop(time.Second)
	if old.State() != Alive {
		t.Fatal("a non-matching process was terminated")
	}
	p := &Process{Name: "sleep", PIDFile: pidFile, Match: "60", Log: logrus.NewEntry(logrus.StandardLogger())}
	if err := p.Start(Command{Path: sleep, Args: []string{"60"}}); err != nil {
		t.Fatal(err)
	}
	defer p.Stop(time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for old.State() == Alive && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if old.State() == Alive {
		t.Fatal("leftover server not terminated")
	}
}
