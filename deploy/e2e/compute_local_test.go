//go:build !openstack

package e2e

// computeDriver is the compute driver TestMain deploys with (COMPUTE for deploy/run.sh). The package's tests run
// on the local driver; `go test -tags openstack -run TestOpenStack` runs the openstack driver's against the test
// bed (deploy/openstack.sh), as `make test` does after the local run.
const computeDriver = "local"
