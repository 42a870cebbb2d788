package local

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// isolated reports whether guests run as users of their own through the root helper.
func (d *Driver) isolated() bool { return len(d.cfg.RootHelper) > 0 }

// helper runs one root helper command; its stdout is returned, its stderr is the error's text.
func (d *Driver) helper(timeout time.Duration, args ...string) (string, error) {
	argv := append([]string(nil), d.cfg.RootHelper...)
	if d.cfg.StateDir != DefaultStateDir {
		argv = append(argv, "--state-dir", d.cfg.StateDir)
	}
	argv = append(argv, args...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.String(), fmt.Errorf("%s %s: %s", HelperName, args[0], msg)
	}
	return stdout.String(), nil
}

// Check verifies at taskmanager start that the root helper runs and the host can isolate instances; the error
// says how to fix it. Without isolation it only warns.
func (d *Driver) Check(context.Context) error {
	if !d.isolated() {
		d.log.Warn("[local] isolation = false: every instance runs as the taskmanager's own user and sees the " +
			"whole host (a tenant with root can read the control plane's files); never use this with real tenants")
		return nil
	}
	out, err := d.helper(30*time.Second, "check")
	if err != nil {
		return fmt.Errorf("the local driver cannot isolate instances: %v (run `make run`, which installs %s and its "+
			"sudoers rule /etc/sudoers.d/trove-local-helper; or set [local] root_helper; docs/deploy.md)", err, HelperName)
	}
	d.log.WithField("helper", strings.TrimSpace(out)).Info("local driver: instances isolated by " + HelperName)
	return nil
}

func (d *Driver) createUser(id string) error {
	_, err := d.helper(time.Minute, "create", id)
	return err
}

func (d *Driver) startIsolated(id string) error {
	args := []string{"start", id, d.cfg.GuestAgentBinary}
	var project string
	_ = d.read(func(s *state) error { project = s.Servers[id].Project; return nil })
	if project != "" { // the guest gets its project's backup directory
		args = append(args, project)
	}
	out, err := d.helper(time.Minute, args...)
	if err != nil {
		return err
	}
	d.log.WithField("instance_id", id).WithField("pid", strings.TrimSpace(out)).Info("guest agent started (isolated)")
	return nil
}

func (d *Driver) stopIsolated(id string) error {
	secs := int(d.cfg.StopTimeout.Round(time.Second) / time.Second)
	_, err := d.helper(d.cfg.StopTimeout+time.Minute, "stop", id, strconv.Itoa(secs))
	return err
}

// destroyUser kills whatever still runs as the instance's user, hands its files back and deletes the user.
func (d *Driver) destroyUser(id string) error {
	_, err := d.helper(time.Minute, "destroy", id)
	return err
}

// reapOrphanUsers deletes the users of instances the driver no longer records (a delete interrupted between
// the helper and the state file, or state edited by hand).
func (d *Driver) reapOrphanUsers(known map[string]bool) {
	out, err := d.helper(time.Minute, "list")
	if err != nil {
		d.log.WithError(err).Warn("listing instance users")
		return
	}
	for _, id := range strings.Fields(out) {
		if known[id] {
			continue
		}
		if err := d.destroyUser(id); err != nil {
			d.log.WithField("instance_id", id).WithError(err).Warn("removing the user of a deleted instance")
			continue
		}
		d.log.WithField("instance_id", id).Info("removed the user of a deleted instance")
	}
}
