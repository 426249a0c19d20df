package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/uplinkd/uplinkd/ctrl/api"
	"github.com/uplinkd/uplinkd/ctrl/config"
	"github.com/uplinkd/uplinkd/ctrl/event"
	"github.com/uplinkd/uplinkd/ctrl/metrics"
	"github.com/uplinkd/uplinkd/ctrl/plane"
	"github.com/uplinkd/uplinkd/ctrl/report"
	"github.com/uplinkd/uplinkd/ctrl/vm"
)

// daemon is what the API and the metrics see: the data plane and the VM
// manager together.
type daemon struct {
	cfg    *config.Config // as at start: the listeners' addresses
	load   func() (*config.Config, error)
	events *event.Log
	p      *plane.Plane
	vms    *vm.Manager
	// reloading serialises reloads (SIGHUP and the API at once) and VMs
	// added and removed through the API.
	reloading sync.Mutex
	hup       <-chan os.Signal
}

func (d *daemon) Report() report.Report                  { return d.p.APIReport() }
func (d *daemon) SetNICAdmin(name string, up bool) error { return d.p.SetNICAdmin(name, up) }

func (d *daemon) VMAction(name, action, host string) error {
	if d.vms.Engine(name) == "" {
		return fmt.Errorf("no VM named %q", name)
	}
	req := vm.Request{Action: vm.Action(action), Reason: "operator"}
	switch req.Action {
	case vm.Suspend, vm.Resume:
	case vm.Migrate:
		for _, h := range d.vms.Hosts() {
			if h.Name == host {
				req.Host = h
			}
		}
		if req.Host.Name == "" {
			return fmt.Errorf("vm %s migrate: %q is not one of [[hosts]]", name, host)
		}
	default:
		return fmt.Errorf("vm %s: %q is not suspend, resume or migrate", name, action)
	}
	return d.vms.Do(name, req)
}

// Reload re-reads the config and puts it in force: the data plane's
// tables and the VM manager's migration targets. A config that cannot be
// read or validated, or that changes what is fixed while uplinkd runs,
// is refused and logged; the old one stays in force.
func (d *daemon) Reload() ([]string, error) {
	d.reloading.Lock()
	defer d.reloading.Unlock()
	before := d.p.Config()
	next, err := d.load()
	var changed []string
	if err == nil {
		changed, err = d.p.Reload(next)
	}
	// The VM manager follows the VMs a reload added and removed, even one
	// that failed half way.
	d.syncVMs(before, d.p.Config())
	if err != nil {
		d.events.Error("config_reload_refused").Err(err).Msg("config reload refused; the running config stays in force")
		return nil, err
	}
	d.vms.SetHosts(vm.HostsFromConfig(next))
	applyRuntime(d.p.Config().Runtime)
	return changed, nil
}

// syncVMs gives the VM manager the VMs that after has and before had not,
// and takes away those gone.
func (d *daemon) syncVMs(before, after *config.Config) {
	had := map[string]bool{}
	for _, v := range before.VMs {
		had[v.Name] = true
	}
	for _, v := range after.VMs {
		if !had[v.Name] {
			d.vms.Add(v.Name, vm.DriverFor(v))
		}
		delete(had, v.Name)
	}
	for name := range had {
		d.vms.Remove(name)
	}
}

// reloadOnHUP reloads the config on every SIGHUP (delivered to hup)
// until ctx ends.
func reloadOnHUP(ctx context.Context, wg *sync.WaitGroup, d *daemon, hup <-chan os.Signal) {
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				d.Reload() // logged either way
			}
		}
	})
}

// operate serves the API socket and, when configured, /metrics over TCP
// until ctx ends. The socket failing is fatal (the operator could not
// reach the daemon); the TCP endpoint failing is logged, and the data
// plane runs on.
func operate(ctx context.Context, wg *sync.WaitGroup, d *daemon, log zerolog.Logger) error {
	reg := prometheus.NewRegistry()
	// Go's own collector too: collections stop the worker (see
	// runtime.gc_percent), so an operator correlates its stalls with them.
	reg.MustRegister(metrics.New(d.p.MetricsReport, d.vms.Counts), collectors.NewGoCollector())
	mh := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	ln, err := api.Listen(d.cfg.API.Socket)
	if err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := api.Serve(ctx, ln, api.Handler(d, mh, d.events)); err != nil {
			log.Error().Err(err).Msg("API")
		}
	}()
	d.events.Info("api").Str("socket", d.cfg.API.Socket).Msg("API listening")
	reloadOnHUP(ctx, wg, d, d.hup)
	if addr := d.cfg.Metrics.Listen; addr != "" {
		mln, err := net.Listen("tcp", addr)
		if err != nil {
			log.Error().Err(err).Str("listen", addr).Msg("metrics endpoint not started; /metrics stays on the API socket")
			return nil
		}
		srv := &http.Server{Handler: mh, ReadHeaderTimeout: 5 * time.Second}
		wg.Add(2)
		go func() { defer wg.Done(); srv.Serve(mln) }()
		go func() { defer wg.Done(); <-ctx.Done(); srv.Close() }()
		d.events.Info("metrics").Str("listen", mln.Addr().String()).Msg("metrics listening")
	}
	return nil
}
