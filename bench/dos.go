package main

// The DoS detection scenario: uplinkd with one watched VM behind two tap
// NICs in a namespace the bench creates; a SYN flood from 1000 source
// addresses is written into one tap's kernel side at 20 kpps, and the
// figure is the time from its first frame to uplinkd's dos_start line
// (both the realtime clock).

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func measureDetection(dir string) (time.Duration, error) {
	ns := fmt.Sprintf("uplk-bench-dos-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("ip netns add: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	prefix := fmt.Sprintf("uplk-bench-dos-%d", os.Getpid())
	defer cleanPrefix(prefix)
	sock := filepath.Join(dir, "dos-vm1.sock")
	os.Remove(sock)
	cfg := writeTapTeamConfig(dir, "dos", prefix, sock, "[dos]\nenabled = true\nsyn_pps = \"5k\"", `policy = "src-mac-hash"`)
	var out strings.Builder
	sw := exec.Command("ip", "netns", "exec", ns, "taskset", "-c", "0", filepath.Join(*binDir, "uplinkd"),
		"--config", cfg, "--log-format", "json", "--status-interval", "0")
	sw.Stdout, sw.Stderr = &out, &out
	if err := sw.Start(); err != nil {
		return 0, err
	}
	defer func() {
		sw.Process.Signal(unix.SIGTERM)
		sw.Wait()
	}()
	waitForPath(sock)
	var fd, ifindex int
	var err error
	for try := 0; try < 300; try++ {
		if err = inNS(ns, func() error {
			ifi, err := net.InterfaceByName("dtap0")
			if err != nil {
				return err
			}
			ifindex = ifi.Index
			fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
			return err
		}); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return 0, fmt.Errorf("dtap0: %v\n%s", err, out.String())
	}
	defer unix.Close(fd)
	dst, _ := net.ParseMAC(foMAC)
	to := &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6}
	frame := make([]byte, 54)
	copy(frame[0:6], dst)
	copy(frame[6:12], []byte{2, 0xfe, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(frame[12:14], 0x0800)
	ip := frame[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:4], 40)
	binary.BigEndian.PutUint32(ip[16:20], 0x0a000002)
	ip[20+12], ip[20+13] = 5<<4, 0x02 // TCP, SYN
	const pps, secs = 20000, 1
	start := time.Now()
	for n := 0; n < pps*secs; {
		due := min(pps*secs, int(time.Since(start).Seconds()*pps))
		for ; n < due; n++ {
			binary.BigEndian.PutUint32(ip[12:16], 0xc6120000+uint32(n%1000))
			binary.BigEndian.PutUint16(ip[20:22], uint16(1024+n))
			unix.Sendto(fd, frame, 0, to)
		}
		time.Sleep(time.Millisecond)
	}
	sw.Process.Signal(unix.SIGTERM)
	sw.Wait()
	for _, line := range strings.Split(out.String(), "\n") {
		var ev struct {
			Event string
			Time  time.Time
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "dos_start" {
			return ev.Time.Sub(start), nil
		}
	}
	return 0, fmt.Errorf("no dos_start within the flood\n%s", out.String())
}

// dosNA says why a peer has no DoS detection figure.
func dosNA(peer string) string {
	switch {
	case peer == "uplinkd":
		return ""
	case strings.HasPrefix(peer, "uplinkd-"):
		return "the same detector as uplinkd, which is measured"
	case strings.HasPrefix(peer, "testpmd"):
		return "testpmd and the bonding PMD detect no attacks"
	case strings.HasPrefix(peer, "ovs-"):
		return "OVS has no attack detector: meters police traffic without telling an attack from load"
	}
	return "unknown peer"
}
