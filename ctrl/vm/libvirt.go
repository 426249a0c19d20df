package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

// Libvirt drives a domain through a libvirtd, the management API every
// Linux virtualisation stack speaks: suspend and resume, peer-to-peer live
// migration to another libvirtd's URI, and the CPU weight as the
// scheduler's cpu_shares (or weight, on drivers that call it that). It
// connects per action, so a restarted libvirtd is simply found again.
type Libvirt struct {
	Socket string // libvirtd's unix socket ("" for /var/run/libvirt/libvirt-sock)
	URI    string // the connection URI ("" for qemu:///system)
	Domain string
}

func (l *Libvirt) Engine() string { return "libvirt" }

// session connects, looks the domain up, runs f and disconnects; ctx
// ending abandons f (go-libvirt calls take no context) and closes the
// connection, which fails the call in flight.
func (l *Libvirt) session(ctx context.Context, f func(c *libvirt.Libvirt, d libvirt.Domain) error) error {
	timeout := 15 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	opts := []dialers.LocalOption{dialers.WithLocalTimeout(timeout)}
	if l.Socket != "" {
		opts = append(opts, dialers.WithSocket(l.Socket))
	}
	c := libvirt.NewWithDialer(dialers.NewLocal(opts...))
	uri := libvirt.ConnectURI(l.URI)
	if uri == "" {
		uri = libvirt.QEMUSystem
	}
	done := make(chan error, 1)
	go func() {
		if err := c.ConnectToURI(uri); err != nil {
			done <- fmt.Errorf("libvirt %s: %w", uri, err)
			return
		}
		defer c.Disconnect()
		d, err := c.DomainLookupByName(l.Domain)
		if err != nil {
			done <- fmt.Errorf("libvirt domain %q: %w", l.Domain, err)
			return
		}
		done <- f(c, d)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		c.Disconnect()
		return ctx.Err()
	}
}

func (l *Libvirt) Suspend(ctx context.Context) error {
	return l.session(ctx, func(c *libvirt.Libvirt, d libvirt.Domain) error {
		if st, _, err := c.DomainGetState(d, 0); err == nil && libvirt.DomainState(st) == libvirt.DomainPaused {
			return nil // already: libvirt refuses to suspend twice
		}
		return c.DomainSuspend(d)
	})
}

func (l *Libvirt) Resume(ctx context.Context) error {
	return l.session(ctx, func(c *libvirt.Libvirt, d libvirt.Domain) error {
		if st, _, err := c.DomainGetState(d, 0); err == nil && libvirt.DomainState(st) == libvirt.DomainRunning {
			return nil // already: libvirt refuses to resume a running domain
		}
		return c.DomainResume(d)
	})
}

func (l *Libvirt) State(ctx context.Context) (State, error) {
	st := Unknown
	err := l.session(ctx, func(c *libvirt.Libvirt, d libvirt.Domain) error {
		s, _, err := c.DomainGetState(d, 0)
		if err != nil {
			return err
		}
		switch libvirt.DomainState(s) {
		case libvirt.DomainRunning:
			st = Running
		case libvirt.DomainPaused:
			st = Paused
		case libvirt.DomainShutoff, libvirt.DomainShutdown, libvirt.DomainCrashed:
			st = Stopped
		}
		return nil
	})
	return st, err
}

// Migrate live-migrates the domain peer to peer: this libvirtd connects
// to the one at h.URI itself, as `virsh migrate --live --p2p` does.
func (l *Libvirt) Migrate(ctx context.Context, h Host) error {
	return l.session(ctx, func(c *libvirt.Libvirt, d libvirt.Domain) error {
		_, err := c.DomainMigratePerform3Params(d, libvirt.OptString{h.URI}, nil, nil,
			libvirt.MigrateLive|libvirt.MigratePeer2peer)
		return err
	})
}

// SetCPUWeight sets the scheduler's cpu_shares (the QEMU driver's name:
// cpu.shares on a cgroup v1 host, cpu.weight on v2) or, on drivers that
// have no such parameter, weight. libvirtd is local (a unix socket), so
// this host's cgroup version is its.
func (l *Libvirt) SetCPUWeight(ctx context.Context, weight int) error {
	if err := checkWeight(weight); err != nil {
		return err
	}
	return l.session(ctx, func(c *libvirt.Libvirt, d libvirt.Domain) error {
		params, err := c.DomainGetSchedulerParameters(d, 16)
		if err != nil {
			return fmt.Errorf("libvirt scheduler parameters: %w", err)
		}
		for _, p := range params {
			var v libvirt.TypedParamValue
			switch p.Field {
			case "cpu_shares":
				v = *libvirt.NewTypedParamValueUllong(sharesForWeight(weight, cgroupV2()))
			case "weight":
				v = *libvirt.NewTypedParamValueUint(uint32(weight))
			default:
				continue
			}
			return c.DomainSetSchedulerParameters(d, []libvirt.TypedParam{{Field: p.Field, Value: v}})
		}
		return errors.New("libvirt: the domain's scheduler has neither cpu_shares nor weight")
	})
}

// sharesForWeight is cpu_shares for a cgroup v2 weight: the same number on
// v2, scaled to v1's 1024-is-normal on v1.
func sharesForWeight(weight int, v2 bool) uint64 {
	if v2 {
		return uint64(weight)
	}
	return uint64(max(2, weight*1024/100))
}

func cgroupV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}
