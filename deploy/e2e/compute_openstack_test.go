//go:build openstack

package e2e

// computeDriver: see compute_local_test.go.
const computeDriver = "openstack"
