# uplinkd: `make demo` runs the data plane on the embedded demo topology,
# `make test` runs every test. Both install what is missing (as root on
# Debian 12): the Debian packages below, Go modules, hugepages and the
# hugetlbfs mount.

SHELL := /bin/bash
GO ?= go
BIN := bin

# Real guests for the guest tests and `make demo-vm`: QEMU, and what
# configs/guest/build-image.sh needs to make their kernel and initramfs out
# of downloaded Debian packages.
GUEST_PACKAGES := qemu-system-x86 cpio kmod xz-utils
# The libvirt driver's tests start a libvirtd (and virtlogd) of their own
# with the QEMU driver.
LIBVIRT_PACKAGES := libvirt-daemon-system libvirt-daemon-driver-qemu
# Debian packages the build, the tests and the demo need. Dockerfile.build
# installs the same list (configs/packages_test.go checks).
DEB_PACKAGES := dpdk dpdk-dev libdpdk-dev pkg-config gcc iproute2 procps \
	$(GUEST_PACKAGES) $(LIBVIRT_PACKAGES)
# The benchmark's peers: dpdk-testpmd (from dpdk) and Open vSwitch with DPDK.
BENCH_PACKAGES := openvswitch-switch-dpdk

HUGEPAGES ?= 1024
HUGE_DIR := /dev/hugepages

.PHONY: all deps bench-deps hugepages build test unit demo demo-vm bench bench-quick clean

all: build

# install-missing installs the Debian packages in $(1) that are not installed.
install-missing = missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

deps:
	@$(call install-missing,$(DEB_PACKAGES))
	$(GO) mod download

bench-deps:
	@$(call install-missing,$(BENCH_PACKAGES))

hugepages:
	@have=$$(cat /proc/sys/vm/nr_hugepages); \
	if [ "$$have" -lt $(HUGEPAGES) ]; then echo $(HUGEPAGES) > /proc/sys/vm/nr_hugepages; fi; \
	mkdir -p $(HUGE_DIR); \
	mountpoint -q $(HUGE_DIR) || mount -t hugetlbfs nodev $(HUGE_DIR); \
	echo "hugepages: $$(cat /proc/sys/vm/nr_hugepages) x 2 MiB, free $$(grep HugePages_Free /proc/meminfo | awk '{print $$2}'), mounted on $(HUGE_DIR)"

build: deps
	$(GO) build -o $(BIN)/uplinkd ./cmd/uplinkd
	$(GO) build -o $(BIN)/uplink-gen ./cmd/uplink-gen
	$(GO) build -o $(BIN)/uplinkctl ./cmd/uplinkctl

# Unit tests alone: no root, no hugepages.
unit:
	$(GO) test -count=1 ./fastpath/... ./ctrl/...

test: deps hugepages
	$(GO) vet ./...
	$(GO) test -count=1 -p 1 -timeout 25m ./...
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 100000x ./fastpath/

demo: build hugepages
	bash configs/demo.sh $(BIN)

# The demo with vm1 played by a real Linux guest under QEMU; the guest image
# is built into /var/cache/uplinkd-guest on first use.
demo-vm: build hugepages
	bash configs/demo-vm.sh $(BIN)

# Writes bench/results/<timestamp>/ (report.md, results.csv, plots).
bench: build bench-deps hugepages
	$(GO) run ./bench -bin $(BIN)

# A reduced set, under 5 minutes: one run of 3 s of each scenario at 64 B,
# the scale grid and latency with uplinkd, testpmd io and OVS's balance-slb.
bench-quick: build bench-deps hugepages
	$(GO) run ./bench -bin $(BIN) -runs 1 -seconds 3 -sizes 64 -failover-runs 1 -dos-runs 1 \
		-scale-runs 1 -scale-vms 1,8 -scale-peers uplinkd,testpmd-io,ovs-slb \
		-latency-runs 1 -latency-peers uplinkd,testpmd-io,ovs-slb -fairness-runs 1 -churn-runs 5 -micro=false \
		-stall-runs 1 -stall-seconds 5 -ndr-peers uplinkd,testpmd-io -ndr-seconds 3 -ndr-steps 2

clean:
	rm -rf $(BIN)
