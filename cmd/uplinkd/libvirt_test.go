package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
	"github.com/uplinkd/uplinkd/ctrl/vm/libvirttest"
)

// hookedLibvirtd starts a libvirtd of the test's own that runs
// configs/libvirt-hook-qemu as its qemu hook, pointed at the lab's uplinkd,
// and runs QEMU as root (the lab's sockets are root's). Its view of
// /etc/libvirt/hooks, /etc/default and qemu.conf is private.
func hookedLibvirtd(t *testing.T, l *lab.Lab) string {
	hooks, defaults := filepath.Join(l.Dir, "hooks"), filepath.Join(l.Dir, "default")
	for _, d := range []string{hooks, defaults} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	hook, err := os.ReadFile("../../configs/libvirt-hook-qemu")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(hooks, "qemu"), hook, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(defaults, "uplinkd-libvirt-hook"),
		[]byte(fmt.Sprintf("UPLINKCTL=%q\nUPLINKD_API=%q\n", bins.Ctl, l.APISocket())), 0o644))
	qemuConf := filepath.Join(l.Dir, "qemu.conf")
	require.NoError(t, os.WriteFile(qemuConf, []byte("user = \"root\"\ngroup = \"root\"\ndynamic_ownership = 0\n"+
		"security_driver = \"none\"\nnamespaces = []\n"), 0o600))
	return libvirttest.Start(t, libvirttest.Options{Binds: map[string]string{
		hooks: "/etc/libvirt/hooks", defaults: "/etc/default", qemuConf: "/etc/libvirt/qemu.conf"}})
}

// hookDomainXML is a TCG guest (the lab's image, sending with pktgen) with
// one vhost-user interface whose socket uplinkd serves. vectors=0: QEMU
// 7.2 under TCG crashes in vhost_net_start with MSI-X (see lab.Guest).
func hookDomainXML(name, sock, mac string, img lab.GuestImage) string {
	return `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>` + name + `</name>
  <metadata><uplinkd:vm xmlns:uplinkd="https://uplinkd.dev/xmlns/libvirt/1"><uplinkd:team>uplink</uplinkd:team></uplinkd:vm></metadata>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>` + img.Kernel + `</kernel><initrd>` + img.Initrd + `</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 uplk.traffic=pktgen uplk.pps=1000 uplk.dst=02:00:00:00:ff:ff uplk.count=0 uplk.size=56</cmdline></os>
  <cpu mode='custom'><model>qemu64</model></cpu>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='vhostuser'>
      <mac address='` + mac + `'/>
      <source type='unix' path='` + sock + `' mode='client'/>
      <model type='virtio'/>
      <rom enabled='no'/>
      <alias name='ua-net0'/>
    </interface>
  </devices>
  <qemu:override><qemu:device alias='ua-net0'><qemu:frontend>
    <qemu:property name='vectors' type='unsigned' value='0'/>
  </qemu:frontend></qemu:device></qemu:override>
</domain>`
}

func TestLibvirtHookAddsADomainsVhostUserPortAndRemovesIt(t *testing.T) {
	img := lab.BuildGuestImage(t)
	l := lab.New(t, bins)
	d := l.StartUplinkd(labConfig(l, "", `policy = "src-mac-hash"`, []string{""}, vmConf{name: "vm1", mac: polMAC1}))
	tap := l.OpenTap("dtap0")
	lv := libvirttest.Connect(t, hookedLibvirtd(t, l))

	name := fmt.Sprintf("uplk-hook-%d", os.Getpid())
	const mac = "02:00:00:00:00:0b"
	mark := d.Mark()
	dom, err := lv.DomainCreateXML(hookDomainXML(name, l.Sock(name), mac, img), 0)
	require.NoError(t, err, "the domain starts: the hook added its port before QEMU connected to it")
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			lv.DomainDestroy(dom)
		}
	})
	d.WaitEventSince(mark, name+" added", func(e lab.Event) bool { return e.Str("event") == "vm_added" && e.Str("vm") == name })
	var vms map[string]struct {
		Team  string `json:"team"`
		InPkt uint64 `json:"in_pkts"`
	}
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, l, "vms", "--json")), &vms))
	require.Contains(t, vms, name)
	assert.Equal(t, "uplink", vms[name].Team, "the team from the domain's metadata")
	assert.FileExists(t, filepath.Join(l.Dir, "state", "vms", name+".json"))

	// The guest boots, its driver attaches, and it passes traffic both
	// ways: pktgen's frames on the tap, frames to its MAC delivered.
	d.WaitEventSince(mark, name+" attached", func(e lab.Event) bool {
		return e.Str("event") == "vm_vhost" && e.Str("vm") == name && e["connected"] == true
	})
	assert.GreaterOrEqual(t, tap.WaitFromSrc(mac, 20, 60*time.Second), 20, "the guest's frames on the NIC")
	for range 5 {
		tap.Inject(lab.Frame(mac, "02:00:00:00:00:99", 128))
	}
	d.WaitStatus(name+" got the frames", func(e lab.Event) bool { return e.Num("vms."+name+".in_pkts") >= 5 })

	// Destroyed, it is gone from uplinkd, and not kept for a restart.
	mark = d.Mark()
	require.NoError(t, lv.DomainDestroy(dom))
	destroyed = true
	d.WaitEventSince(mark, name+" removed", func(e lab.Event) bool { return e.Str("event") == "vm_removed" && e.Str("vm") == name })
	var after map[string]any
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, l, "vms", "--json")), &after))
	assert.NotContains(t, after, name)
	assert.NoFileExists(t, filepath.Join(l.Dir, "state", "vms", name+".json"))
	d.Stop()
}

// libvirtHook runs the hook's uplinkctl for domain name, as libvirt runs
// it (configs/libvirt-hook-qemu execs it with the same arguments), with
// the domain's XML on stdin.
func libvirtHook(t *testing.T, l *lab.Lab, name, op, sub, domXML string) {
	t.Helper()
	cmd := exec.Command(bins.Ctl, "--api", l.APISocket(), "libvirt-hook", name, op, sub, "-")
	cmd.Stdin = strings.NewReader(domXML)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "hook %s %s %s: %s", name, op, sub, out)
}

// The hook's add and remove, 20 times over, while another VM sends and
// receives: every time the domain's port passes traffic both ways, and the
// other VM loses nothing. A generator plays the domain's QEMU, as QEMU
// with a vhost-user server socket (libvirt's mode='server', uplinkd's
// client mode), which stays while uplinkd comes and goes on its socket.
// The churn of the uplinkctl test, through the hook: two VMs carry
// traffic both ways while a domain's port is added and removed by the hook
// vmChurn times, and everything the domain came with is given back.
func TestLibvirtHookAddsAndRemovesDomainsWhileOthersLoseNothing(t *testing.T) {
	l := lab.New(t, bins)
	d := l.StartUplinkd(labConfig(l, "", `policy = "src-mac-hash"`, []string{""},
		vmConf{name: "vm1", mac: polMAC1}, vmConf{name: "vm2", mac: polMAC2}))
	tap := l.OpenTap("dtap0")
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), polMAC1), "--vm", lab.VMArg("vm2", l.Sock("vm2"), polMAC2),
		"--rate", "2000", "--size", "128", "--duration", "30m", "--hold", "--progress", "50ms")
	d.WaitVMConnected("vm1")
	d.WaitVMConnected("vm2")
	in := tap.Flood(lab.FloodSpec{Dst: polMAC1, Kind: "benign", PPS: 500})
	d.WaitStatus("traffic flowing", func(e lab.Event) bool {
		return e.Num("vms.vm1.out_pkts") > 100 && e.Num("vms.vm2.out_pkts") > 100
	})
	start := readLeftovers(t, l, d)

	const name, mac = "uplk-dom", "02:00:00:00:00:0b"
	sock := l.Sock(name)
	// The domain XML's kernel is never booted: the generator is its QEMU.
	domXML := strings.Replace(hookDomainXML(name, sock, mac, lab.GuestImage{Kernel: "/nonexistent", Initrd: "/nonexistent"}),
		"mode='client'", "mode='server'", 1)
	dom := l.LaunchGen("--vm", lab.VMArg(name, sock, mac)+",server=1", "--rate", "1000", "--size", "128", "--duration", "30m",
		"--hold", "--wait-link", "60s", "--progress", "50ms")
	require.Eventually(t, func() bool { _, err := os.Stat(sock); return err == nil }, 30*time.Second, 5*time.Millisecond,
		"the generator serves %s", sock)
	seen, got := 0, 0
	churn := vmChurn(t)
	for i := 0; i < churn; i++ {
		mark := d.Mark()
		libvirtHook(t, l, name, "prepare", "begin", domXML)
		d.WaitEventSince(mark, name+" connected", func(e lab.Event) bool {
			return e.Str("event") == "vm_vhost" && e.Str("vm") == name && e["connected"] == true
		})
		if i == 0 {
			dom.WaitReady()
		}
		seen = tap.WaitFromSrc(mac, seen+20, 20*time.Second)
		require.GreaterOrEqual(t, seen, 20*(i+1), "cycle %d: the domain's frames on the NIC", i)
		for range 5 {
			tap.Inject(lab.Frame(mac, "02:00:00:00:00:99", 128))
		}
		got += 5
		dom.WaitProgress(name+" received", func(e lab.Event) bool { return lab.VM(e, name)["rx_unicast_own"] >= float64(got) })
		mark = d.Mark()
		libvirtHook(t, l, name, "release", "end", domXML)
		d.WaitEventSince(mark, name+" removed", func(e lab.Event) bool { return e.Str("event") == "vm_removed" && e.Str("vm") == name })
	}
	dom.Finish(true)
	assert.NoFileExists(t, filepath.Join(l.Dir, "state", "vms", name+".json"))
	t.Logf("the hook added and removed %s %d times", name, churn)
	assertGivenBack(t, l, d, start)

	final := g.StopSending()
	injected := in.Stop()
	for _, vm := range []struct{ name, mac string }{{"vm1", polMAC1}, {"vm2", polMAC2}} {
		n := int(lab.VM(final, vm.name)["sent"])
		assert.Equal(t, n, tap.WaitFromSrc(vm.mac, n, 20*time.Second), "%s's frames on the NIC", vm.name)
	}
	g.WaitProgress("flood delivered", func(e lab.Event) bool { return lab.VM(e, "vm1")["rx_unicast_own"] >= float64(injected) })
	rep := g.Finish(true)
	assert.EqualValues(t, injected, lab.VM(rep, "vm1")["rx_unicast_own"], "the network's frames to vm1")
	st := d.Stop() // mbufs in use at stop as at start
	assert.Empty(t, st.At("vms.vm1.drops"), "vm1 dropped nothing")
	assert.Empty(t, st.At("vms.vm2.drops"), "vm2 dropped nothing")
	assert.Empty(t, st.At("nics.nic1.drops"), "nic1 dropped nothing")
}
