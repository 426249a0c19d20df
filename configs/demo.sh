#!/usr/bin/env bash
# The demo: uplinkd on the embedded topology (two net_tap NICs, two VMs),
# uplink-gen playing both VMs, about 20 seconds of status lines with nic1's
# cable pulled for the middle third (its VM fails over to nic2, is
# announced there, and comes back), then a clean stop. The taps live in a network namespace made for the demo, so no
# frame reaches the host's own network.
set -euo pipefail
BIN=${1:-bin}
NS=uplinkd-demo-$$
SECS=${DEMO_SECONDS:-20}
UPLINKD_PID=""
GEN_PID=""

cleanup() {
	[ -n "$GEN_PID" ] && kill -TERM "$GEN_PID" 2>/dev/null && wait "$GEN_PID" 2>/dev/null || true
	[ -n "$UPLINKD_PID" ] && kill -TERM "$UPLINKD_PID" 2>/dev/null && wait "$UPLINKD_PID" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	rm -f /dev/hugepages/uplinkd-demomap_* /dev/hugepages/uplinkd-demo-genmap_*
	rm -rf /var/run/dpdk/uplinkd-demo /var/run/dpdk/uplinkd-demo-gen
}
trap cleanup EXIT

ip netns add "$NS"
ip netns exec "$NS" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'
ip netns exec "$NS" ip link set lo up # metrics on 127.0.0.1:9470 inside the namespace

echo "== starting uplinkd (embedded demo config) in netns $NS"
ip netns exec "$NS" "$BIN/uplinkd" --log-format console &
UPLINKD_PID=$!
for _ in $(seq 100); do
	[ -S /run/uplinkd/demo/vm1.sock ] && [ -S /run/uplinkd/demo/vm2.sock ] && break
	sleep 0.1
done

echo "== uplink-gen plays vm1 and vm2 at 20 kpps each for ${SECS}s"
"$BIN/uplink-gen" --file-prefix uplinkd-demo-gen --memory 128 --progress 0 --rate 20000 --flows 64 \
	--duration "${SECS}s" \
	--vm name=vm1,socket=/run/uplinkd/demo/vm1.sock,mac=02:00:00:00:00:01 \
	--vm name=vm2,socket=/run/uplinkd/demo/vm2.sock,mac=02:00:00:00:00:02 &
GEN_PID=$!
sleep $((SECS / 3))
echo "== pulling nic1's cable: ip link set dtap0 down"
ip netns exec "$NS" ip link set dtap0 down
sleep $((SECS / 3))
echo "== plugging it back: ip link set dtap0 up"
ip netns exec "$NS" ip link set dtap0 up
wait "$GEN_PID"
GEN_PID=""
echo "== stopping uplinkd"
kill -TERM "$UPLINKD_PID"
wait "$UPLINKD_PID"
UPLINKD_PID=""
echo "== demo done"
