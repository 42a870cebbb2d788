# Trove in Go. The two commands a user needs: `make run` and `make test` (see README.md).
SHELL := /bin/bash
MODULES := pkg db services/api services/taskmanager services/conductor services/guestagent deploy/e2e deploy/openstack/bootemu
BIN := $(CURDIR)/bin
GO ?= go
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: all build test conformance check fuzz bench soak run stop clean fresh-check guest-image-test

all: build

build:
	@mkdir -p $(BIN)
	cd services/api && $(GO) build -o $(BIN)/ ./cmd/...
	cd services/taskmanager && $(GO) build -o $(BIN)/ ./cmd/...
	cd services/conductor && $(GO) build -o $(BIN)/ ./cmd/...
	cd services/guestagent && $(GO) build -o $(BIN)/ ./cmd/...
	cd deploy/openstack/bootemu && $(GO) build -o $(BIN)/trove-boot-emulator .

# Installs and starts MariaDB, RabbitMQ, Keystone, Swift and the OpenStack test bed when missing, then runs every
# test in three phases (deploy/test.sh): the modules (the e2e module, which leaves `make run`'s deployment up, beside
# the others); Trove's acceptance suite against that deployment; the deployment switched to the openstack driver for
# that driver's e2e tests and the acceptance suite's classes gated there, then back to the local driver.
test: build
	bash deploy/test.sh

# Trove's acceptance suite (tempest + trove-tempest-plugin) against `make run`'s deployment: one table, and the
# gate in deploy/conformance/required.txt. CONFORMANCE_RUNS=10 runs it ten times in a row.
conformance: run
	TROVE_CONFORMANCE_RUNS=$(or $(CONFORMANCE_RUNS),1) bash deploy/conformance.sh

check:
	@bad=$$(gofmt -l $(MODULES)); if [ -n "$$bad" ]; then echo "gofmt needed: $$bad"; exit 1; fi
	for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done
	bash deploy/lint.sh

# Each fuzz target for FUZZTIME (default 30s); seeds are kept in each package's testdata/fuzz.
FUZZTIME ?= 30s
fuzz:
	@set -e; for d in $$(grep -rl --include='*_test.go' '^func Fuzz' $(MODULES) | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$d/*_test.go | sed 's/^func //'); do \
	    echo "== $$d $$f"; (cd $$d && $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) .) || exit 1; \
	  done; done

# 100 create/delete cycles through the CLI against `make run`'s deployment, then checks nothing is left behind.
soak: build
	bash deploy/soak.sh $(CYCLES)

# COMPUTE=openstack: instances on the OpenStack test bed (deploy/openstack.sh) instead of this host's processes.
run: build
	COMPUTE=$(COMPUTE) bash deploy/run.sh

stop:
	bash deploy/stop.sh

# Go benchmarks of every module (API load run included: BENCH=BenchmarkAPI BENCHTIME=5000x), then create → ACTIVE
# timings against `make run`'s deployment on the local driver, then on the openstack driver (the test bed).
bench: build
	bash deploy/bench.sh
	bash deploy/bench-create.sh
	BENCH_COMPUTE=openstack bash deploy/bench-create.sh
	COMPUTE=local bash deploy/run.sh >/dev/null

clean:
	rm -rf $(BIN) .test.env

# Builds a MariaDB guest image (deploy/guest-image: mmdebstrap, GRUB, cloud-init, the static trove-guestagent) and
# checks what it holds; with BOOT=1 also boots it in QEMU (TCG). 7–13 minutes: not part of `make test`.
guest-image-test:
	bash deploy/guest-image/test.sh $(if $(BOOT),--boot)

# The whole bootstrap in a freshly debootstrapped bookworm root in its own network namespace (slow; not in CI).
fresh-check: build
	bash deploy/fresh-check.sh
