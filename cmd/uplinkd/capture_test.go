package main

import (
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
)

// DPDK's own tools attach to a running uplinkd as secondary processes
// through its file prefix: dpdk-dumpcap captures a NIC port (rte_pdump)
// and dpdk-proc-info reads its port statistics.
func TestDumpcapCapturesANICAndProcInfoReadsItsStats(t *testing.T) {
	for _, tool := range []string{"dpdk-dumpcap", "dpdk-proc-info"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: it comes with Debian's dpdk package, which make test installs", tool)
		}
	}
	l := lab.New(t, bins)
	const vmMAC = "02:00:00:00:00:01"
	d := l.StartUplinkd(labConfig(l, "", `policy = "src-mac-hash"`, []string{""}, vmConf{name: "vm1", mac: vmMAC}))
	tap := l.OpenTap("dtap0")

	// vm1 sends until the test ends; dumpcap attaches to the running
	// daemon, captures n frames of nic1's port and exits.
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), vmMAC), "--rate", "5000", "--size", "200", "--duration", "10m")
	tap.WaitFromSrc(vmMAC, 100, 20*time.Second)
	const n = 500
	pcap := filepath.Join(l.Dir, "nic1.pcapng")
	dumpcap := l.StartTool("dpdk-dumpcap", "--file-prefix="+d.Prefix, "-p", "-i", "net_tap0", "-w", pcap, "-c", strconv.Itoa(n))
	out, err := dumpcap.Output(60 * time.Second)
	require.NoError(t, err, "dpdk-dumpcap:\n%s", out)

	frames, err := lab.ReadPcapng(pcap)
	require.NoError(t, err)
	// dumpcap checks -c after writing each burst it takes from its ring (up
	// to 32 frames), so the file can hold up to 31 frames more.
	assert.GreaterOrEqual(t, len(frames), n, "dumpcap wrote the frames it was asked for")
	assert.Less(t, len(frames), n+32, "and stopped within a burst of them")
	fromVM := 0
	for _, f := range frames {
		if len(f) == 200 && net.HardwareAddr(f[6:12]).String() == vmMAC {
			fromVM++
		}
	}
	assert.Equal(t, len(frames), fromVM, "every captured frame is one of vm1's, whole (the tap's side sends nothing)")

	procInfo := l.StartTool("dpdk-proc-info", "--file-prefix="+d.Prefix, "--log-level=error", "--", "--stats")
	stats, err := procInfo.Output(30 * time.Second)
	require.NoError(t, err, "dpdk-proc-info:\n%s", stats)
	// proc-info prints a block per port, net_tap0 first (port 0):
	// "TX-packets: N" is what uplinkd sent through it.
	m := regexp.MustCompile(`(?s)NIC statistics for port 0 .*?TX-packets: +(\d+)`).FindStringSubmatch(stats)
	require.NotNil(t, m, "no port 0 statistics:\n%s", stats)
	tx, _ := strconv.Atoi(m[1])
	assert.GreaterOrEqual(t, tx, n, "port 0 (nic1) counted what it sent:\n%s", stats)

	g.Finish(true)
	d.Stop()
	// Both tools are reaped once uplinkd has stopped (see lab.Tool).
	assert.NoError(t, dumpcap.Exit(), "dpdk-dumpcap's exit status:\n%s", out)
	assert.NoError(t, procInfo.Exit(), "dpdk-proc-info's exit status:\n%s", stats)
}
