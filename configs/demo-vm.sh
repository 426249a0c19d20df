#!/usr/bin/env bash
# The demo with a real guest: uplinkd on the embedded topology, and vm1
# played by a small Linux guest under QEMU (TCG) whose virtio-net NIC is a
# vhost-user client of uplinkd; its kernel's pktgen sends unicast frames.
# About 20 seconds of status lines with nic2's cable pulled for the middle
# third (vm1's MAC hashes to nic2: the guest's frames fail over to nic1 and
# come back), then a clean stop of everything started here. vm2 stays idle.
set -euo pipefail
BIN=${1:-bin}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=uplinkd-demo-vm-$$
SECS=${DEMO_SECONDS:-20}
PPS=${DEMO_PPS:-10000}
DST=02:fe:00:00:00:01
CACHE=/var/cache/uplinkd-guest
SOCK=/run/uplinkd/demo/vm1.sock
RUN=$(mktemp -d /tmp/uplinkd-demo-vm.XXXXXX)
UPLINKD_PID=""
QEMU_PID=""
BUILD_DIR=""

cleanup() {
	[ -n "$QEMU_PID" ] && kill -TERM "$QEMU_PID" 2>/dev/null && wait "$QEMU_PID" 2>/dev/null || true
	[ -n "$UPLINKD_PID" ] && kill -TERM "$UPLINKD_PID" 2>/dev/null && wait "$UPLINKD_PID" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	rm -f /dev/hugepages/uplinkd-demomap_*
	rm -rf /var/run/dpdk/uplinkd-demo "$RUN" ${BUILD_DIR:+"$BUILD_DIR"}
}
trap cleanup EXIT

# The image is keyed by its recipe as the tests key it (lab.GuestImageKey),
# so both reuse one build.
KEY=$(cat "$HERE/guest/build-image.sh" "$HERE/guest/init" | sha256sum | cut -c1-16)
IMG=$CACHE/$KEY
if [ ! -s "$IMG/vmlinuz" ] || [ ! -s "$IMG/initrd.img" ]; then
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9 # a test may be building it right now
	if [ ! -s "$IMG/vmlinuz" ] || [ ! -s "$IMG/initrd.img" ]; then
		echo "== building the guest image into $IMG"
		BUILD_DIR=$(mktemp -d "$CACHE/.build-XXXXXX")
		bash "$HERE/guest/build-image.sh" "$BUILD_DIR"
		chmod 755 "$BUILD_DIR"
		rm -rf "$IMG"
		mv "$BUILD_DIR" "$IMG"
		BUILD_DIR=""
	fi
	exec 9>&- # or uplinkd and QEMU would hold the lock
fi

ip netns add "$NS"
ip netns exec "$NS" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'
ip netns exec "$NS" ip link set lo up # metrics on 127.0.0.1:9470 inside the namespace

echo "== starting uplinkd (embedded demo config) in netns $NS"
ip netns exec "$NS" "$BIN/uplinkd" --log-format console &
UPLINKD_PID=$!
for _ in $(seq 100); do
	[ -S "$SOCK" ] && break
	sleep 0.1
done

# QEMU 7.2 under TCG here: shared guest memory or vhost-user sees no
# packets; vectors=0 or vhost_net_start segfaults; KVM is a slow nested
# hypervisor on these machines. CPU 0, away from uplinkd's worker on CPU 1.
echo "== booting the guest as vm1 (02:00:00:00:00:01), pktgen at $PPS pps to $DST"
start=$(date +%s.%N)
taskset -c 0 qemu-system-x86_64 -name guest=vm1 -nodefaults -no-user-config -display none -no-reboot \
	-accel tcg -cpu qemu64 -smp 1 -m 256M \
	-object memory-backend-memfd,id=mem0,size=256M,share=on -numa node,memdev=mem0 \
	-chardev socket,id=vhu0,path="$SOCK",reconnect=1 \
	-netdev vhost-user,id=net0,chardev=vhu0 \
	-device virtio-net-pci,netdev=net0,mac=02:00:00:00:00:01,vectors=0,romfile= \
	-kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img" \
	-append "console=ttyS0 quiet panic=-1 uplk.traffic=pktgen uplk.pps=$PPS uplk.dst=$DST" \
	-serial "file:$RUN/console.log" </dev/null >"$RUN/qemu.log" 2>&1 &
QEMU_PID=$!
for _ in $(seq 900); do
	grep -q UPLK-GUEST-READY "$RUN/console.log" 2>/dev/null && break
	if ! kill -0 "$QEMU_PID" 2>/dev/null || grep -q UPLK-GUEST-FAILED "$RUN/console.log" 2>/dev/null; then
		echo "== the guest did not come up:"
		cat "$RUN/qemu.log" "$RUN/console.log" 2>/dev/null
		exit 1
	fi
	sleep 0.1
done
grep UPLK-GUEST "$RUN/console.log" | sed 's/^/   guest: /'
grep -q UPLK-GUEST-READY "$RUN/console.log" || { echo "== the guest did not boot in 90 s"; exit 1; }
echo "== guest booted in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s; sending for ${SECS}s"

sleep $((SECS / 3))
echo "== pulling nic2's cable: ip link set dtap1 down"
ip netns exec "$NS" ip link set dtap1 down
sleep $((SECS / 3))
echo "== plugging it back: ip link set dtap1 up"
ip netns exec "$NS" ip link set dtap1 up
sleep $((SECS - 2 * (SECS / 3)))

echo "== stopping the guest"
kill -TERM "$QEMU_PID"
wait "$QEMU_PID" || echo "== QEMU exited with status $?"
QEMU_PID=""
echo "== stopping uplinkd"
kill -TERM "$UPLINKD_PID"
wait "$UPLINKD_PID"
UPLINKD_PID=""
echo "== demo done"
