package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const openstackBin = "/usr/bin/openstack"

// cli runs Debian's openstack CLI with the variables of one openrc file (and nothing else named OS_*).
type cli struct {
	t   *testing.T
	env []string
}

func newCLI(t *testing.T, openrc map[string]string) *cli {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OS_") {
			env = append(env, kv)
		}
	}
	for k, v := range openrc {
		env = append(env, k+"="+v)
	}
	return &cli{t: t, env: env}
}

// demo is the CLI as the tenant user of /etc/trove/openrc.demo.
func demo(t *testing.T) *cli { return newCLI(t, deployment.demo) }

// without returns a copy of c whose environment lacks the variable name.
func (c *cli) without(name string) *cli {
	out := &cli{t: c.t}
	for _, kv := range c.env {
		if !strings.HasPrefix(kv, name+"=") {
			out.env = append(out.env, kv)
		}
	}
	return out
}

// run runs `openstack args...` and returns its combined output. A refused connection means the request never
// reached trove-api (its supervisor or run.sh is restarting it), so it is retried for up to a minute.
func (c *cli) run(args ...string) (string, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		cmd := exec.Command(openstackBin, args...)
		cmd.Env = c.env
		out, err := cmd.CombinedOutput()
		if err == nil || !refused(string(out)) || time.Now().After(deadline) {
			return string(out), err
		}
		time.Sleep(2 * time.Second)
	}
}

func refused(out string) bool {
	return strings.Contains(out, "Unable to establish connection") && strings.Contains(out, "Connection refused")
}

// must runs the command and fails the test when it exits non-zero.
func (c *cli) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// json runs the command with `-f json` and decodes its standard output into v.
func (c *cli) json(v any, args ...string) {
	c.t.Helper()
	args = append(args, "-f", "json")
	var out []byte
	var err error
	var stderr strings.Builder
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Second) {
		cmd := exec.Command(openstackBin, args...)
		cmd.Env = c.env
		stderr.Reset()
		cmd.Stderr = &stderr
		out, err = cmd.Output()
		if err == nil || !refused(stderr.String()) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		c.t.Fatalf("openstack %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	if err := json.Unmarshal(out, v); err != nil {
		c.t.Fatalf("openstack %s: output is not the expected JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// instance is `openstack database instance show -f json` (troveclient's set_attributes_for_print_detail).
type instance struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Status          string `json:"status"`
	OperatingStatus string `json:"operating_status"`
	Volume          any    `json:"volume"`
	IP              string `json:"ip"`
	Addresses       any    `json:"addresses"`
	Datastore       string `json:"datastore"`
	Fault           string `json:"fault"`
}

// address is the instance's first IP address (from "addresses" or "ip").
func (i instance) address() string {
	if list, ok := i.Addresses.([]any); ok {
		for _, a := range list {
			if m, ok := a.(map[string]any); ok {
				if s, _ := m["address"].(string); s != "" {
					return s
				}
			}
		}
	}
	if s, ok := i.Addresses.(string); ok && s != "" {
		return strings.TrimSpace(strings.Split(s, ",")[0])
	}
	return strings.TrimSpace(strings.Split(i.IP, ",")[0])
}

func (i instance) volumeSize() string { return fmt.Sprint(i.Volume) }

func (i instance) String() string {
	s := fmt.Sprintf("status=%s operating_status=%s address=%q volume=%s", i.Status, i.OperatingStatus, i.address(), i.volumeSize())
	if i.Fault != "" {
		s += " fault=" + i.Fault
	}
	return s
}

func (c *cli) show(id string) instance {
	c.t.Helper()
	var i instance
	c.json(&i, "database", "instance", "show", id)
	return i
}

// poll is show for polling loops: while the API is briefly unreachable (trove-api being restarted by its
// supervisor or by run.sh) it returns ok=false instead of failing the test.
func (c *cli) poll(id string) (instance, bool) {
	c.t.Helper()
	cmd := exec.Command(openstackBin, "database", "instance", "show", id, "-f", "json")
	cmd.Env = c.env
	b, err := cmd.CombinedOutput()
	out := string(b)
	if err != nil && strings.Contains(out, "Unable to establish connection") {
		return instance{Status: "(API unreachable)"}, false
	}
	if err != nil {
		c.t.Fatalf("openstack database instance show %s: %v\n%s", id, err, out)
	}
	var i instance
	if err := json.Unmarshal([]byte(out), &i); err != nil {
		c.t.Fatalf("instance show %s: output is not JSON: %v\n%s", id, err, out)
	}
	return i, true
}

// waitStatus polls `instance show` until the status is one of want and fails when the deadline passes.
func (c *cli) waitStatus(id string, timeout time.Duration, want ...string) instance {
	c.t.Helper()
	var last instance
	ok, seen := waitFor(timeout, time.Second, func() (bool, string) {
		last, _ = c.poll(id)
		for _, w := range want {
			if last.Status == w {
				return true, last.String()
			}
		}
		return false, last.String()
	})
	if !ok {
		c.t.Fatalf("instance %s did not reach %v within %s; last seen: %s", id, want, timeout, seen)
	}
	return last
}

// waitActive waits for status ACTIVE with a running database (operating_status HEALTHY or ACTIVE) and an
// address; ERROR/FAILED fail at once.
func (c *cli) waitActive(id string, timeout time.Duration) instance {
	c.t.Helper()
	var i instance
	ok, seen := waitFor(timeout, time.Second, func() (bool, string) {
		i, _ = c.poll(id)
		up := i.Status == "ACTIVE" && (i.OperatingStatus == "HEALTHY" || i.OperatingStatus == "ACTIVE")
		return up || i.Status == "ERROR" || i.Status == "FAILED", i.String()
	})
	if !ok {
		c.t.Fatalf("instance %s did not become ACTIVE within %s; last seen: %s", id, timeout, seen)
	}
	if i.Status != "ACTIVE" {
		c.t.Fatalf("instance %s ended %s instead of ACTIVE", id, i)
	}
	if i.address() == "" {
		c.t.Fatalf("instance %s is %s but has no address: %s", id, i.Status, i)
	}
	return i
}

// gone reports whether `instance show` says the instance does not exist.
func (c *cli) gone(id string) (bool, string) {
	out, err := c.run("database", "instance", "show", id, "-f", "json")
	if err == nil {
		var i instance
		_ = json.Unmarshal([]byte(out), &i)
		return false, "still shown: " + i.String()
	}
	return strings.Contains(out, "No instance with a name or ID") || strings.Contains(out, "404"), out
}

// deleteInstance deletes the instance and waits until it is gone from the API and from the instance list.
func (c *cli) deleteInstance(id string) {
	c.t.Helper()
	c.must("database", "instance", "delete", id)
	c.waitGone(id)
}

func (c *cli) waitGone(id string) {
	c.t.Helper()
	if ok, last := waitFor(3*time.Minute, 2*time.Second, func() (bool, string) { return c.gone(id) }); !ok {
		c.t.Fatalf("instance %s still exists 3 minutes after delete: %s", id, last)
	}
	var list []struct {
		ID string `json:"ID"`
	}
	c.json(&list, "database", "instance", "list")
	for _, l := range list {
		if l.ID == id {
			c.t.Fatalf("deleted instance %s is still in `openstack database instance list`", id)
		}
	}
}

// cleanupInstance deletes the instance at the end of the test unless the test already deleted it.
func (c *cli) cleanupInstance(id string) {
	c.t.Cleanup(func() {
		if gone, _ := c.gone(id); gone {
			return
		}
		if out, err := c.run("database", "instance", "delete", id); err != nil {
			// An instance stuck in a task may refuse a normal delete; force it.
			if out2, err2 := c.run("database", "instance", "delete", "--force", id); err2 != nil {
				c.t.Errorf("cleanup: deleting instance %s: %v\n%s\n%s", id, err2, out, out2)
				return
			}
		}
		if ok, last := waitFor(3*time.Minute, 2*time.Second, func() (bool, string) { return c.gone(id) }); !ok {
			c.t.Errorf("cleanup: instance %s still exists: %s", id, last)
		}
	})
}

// createInstance runs `instance create` with -f json, registers the cleanup and returns the created instance.
func (c *cli) createInstance(name string, args ...string) instance {
	c.t.Helper()
	var i instance
	c.json(&i, append([]string{"database", "instance", "create", name}, args...)...)
	if i.ID == "" {
		c.t.Fatalf("instance create %s returned no id", name)
	}
	c.cleanupInstance(i.ID)
	return i
}

// datastoreVersion returns the name of the first active version of a datastore registered by run.sh.
func (c *cli) datastoreVersion(datastore string) string {
	c.t.Helper()
	var versions []struct {
		Name string `json:"Name"`
	}
	c.json(&versions, "datastore", "version", "list", datastore)
	if len(versions) == 0 {
		c.t.Fatalf("datastore %q has no version (deploy/run.sh registers the datastores)", datastore)
	}
	return versions[0].Name
}

// smallFlavor returns the id of the flavor named m1.small (the local driver's [local_flavors]).
func (c *cli) smallFlavor() string {
	c.t.Helper()
	var flavors []struct {
		ID   any    `json:"ID"`
		Name string `json:"Name"`
	}
	c.json(&flavors, "database", "flavor", "list")
	for _, f := range flavors {
		if f.Name == "m1.small" {
			return fmt.Sprint(f.ID)
		}
	}
	c.t.Fatalf("no flavor m1.small in `openstack database flavor list`: %+v", flavors)
	return ""
}
