package testenv

import (
	"bufio"
	"os/exec"
	"testing"
)

// PythonOslo is Debian's interpreter, the one with python3-oslo.messaging (deploy/test-env.sh installs it;
// pyenv's python3 lacks it).
const PythonOslo = "/usr/bin/python3"

// PythonPeer runs PythonOslo on script with args: a long-running peer that prints READY once it listens and
// exits when its stdin closes. It returns once the peer is ready and stops it at cleanup; a peer that does not
// get ready fails the test with its stderr. The returned function gives the peer's stderr so far.
func PythonPeer(t testing.TB, script string, args ...string) (stderr func() string) {
	t.Helper()
	cmd := exec.Command(PythonOslo, append([]string{script}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errBuf := &Buffer{}
	cmd.Stderr, stderr = errBuf, errBuf.String
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "READY\n" {
		t.Fatalf("%s did not start: %q %v\n%s", script, line, err, stderr())
	}
	return stderr
}
