// Command trove-local-helper is the local compute driver's root helper: the one privileged step of the
// taskmanager (user trove), run through sudo with a fixed, validated command set — instance users, and guests
// started in namespaces of their own. See pkg/compute/local (helper.go) and docs/deploy.md.
package main

import (
	"os"

	"github.com/trove-go/trove/pkg/compute/local"
)

func main() { os.Exit(local.HelperMain(os.Args[1:], os.Stdout, os.Stderr)) }
