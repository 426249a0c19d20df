// Command uplinkd is the VM-aware NIC-teaming data plane daemon.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/uplinkd/uplinkd/cgo/dpdk"
	"github.com/uplinkd/uplinkd/configs"
	"github.com/uplinkd/uplinkd/ctrl/config"
	"github.com/uplinkd/uplinkd/ctrl/event"
	"github.com/uplinkd/uplinkd/ctrl/plane"
	"github.com/uplinkd/uplinkd/ctrl/vm"
)

func main() {
	var (
		cfgPath   string
		logFormat string
		logLevel  string
		check     bool
		status    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "uplinkd",
		Short: "VM-aware NIC-teaming data plane",
		Long: `uplinkd moves packets between VMs' vhost-user ports and physical NICs
through DPDK, deciding per packet whether and over which NIC a VM's traffic
leaves. Without --config it runs the embedded demo topology (two net_tap
NICs, two VMs). It stops cleanly on SIGINT or SIGTERM. On SIGHUP (or
uplinkctl reload) it re-reads the config and puts what changed in force
without stopping traffic; a config that is invalid, or that changes a key
fixed while uplinkd runs (configs/reference.toml says which), is refused
with the key and the reason, and the old one stays.`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := newLogger(logFormat, logLevel)
			if err != nil {
				return err
			}
			// Events are kept whatever the log level (uplinkctl events
			// reads them); the log shows those at its level.
			events := event.New(1024, event.ToLog(out))
			log := out.With().Timestamp().Logger()
			// load reads the config as at start, and again on reload.
			load := func() (*config.Config, error) {
				cfg, err := loadConfig(cfgPath)
				if err == nil && cmd.Flags().Changed("status-interval") {
					cfg.Status.Interval = status
				}
				return cfg, err
			}
			cfg, err := load()
			if err != nil {
				return err
			}
			if check {
				fmt.Println("config OK")
				return nil
			}
			return run(cfg, load, log, events)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfgPath, "config", "c", "", "config file (.toml, .yaml); default: the embedded demo topology")
	f.StringVar(&logFormat, "log-format", "auto", "log format: json, console, or auto (console on a terminal)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.BoolVar(&check, "check", false, "validate the config and exit")
	f.DurationVar(&status, "status-interval", time.Second, "status line interval (0 turns it off); overrides status.interval")
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Parse(configs.Demo, "toml")
	}
	return config.Load(path)
}

// newLogger logs to stderr in format from level on. It adds no timestamp:
// events carry their own time, other lines add it.
func newLogger(format, level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Logger{}, fmt.Errorf("--log-level: %w", err)
	}
	// On a terminal the status line's message says it all; the per-VM and
	// per-NIC objects are for JSON consumers.
	var out = zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: "15:04:05.000", FieldsExclude: []string{"vms", "nics"}}
	json := zerolog.New(os.Stderr).Level(lvl)
	switch format {
	case "json":
		return json, nil
	case "console":
	case "auto":
		if !isatty.IsTerminal(os.Stderr.Fd()) {
			return json, nil
		}
	default:
		return zerolog.Logger{}, fmt.Errorf("--log-format: %q is not json, console or auto", format)
	}
	return zerolog.New(out).Level(lvl), nil
}

func run(cfg *config.Config, load func() (*config.Config, error), log zerolog.Logger, events *event.Log) error {
	zerolog.TimeFieldFormat = time.RFC3339Nano
	// Each worker holds a P for good (it polls in Go). With fewer Ps than
	// workers + 2, the API, the loops and the garbage collector get a P
	// only by preempting a worker: under taskset to one CPU Go starts with
	// GOMAXPROCS 1, and the bench saw the worker stopped for milliseconds
	// whenever the API was used.
	if want := len(cfg.EAL.WorkerLcores) + 2; runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
	}
	gcFrom, limitFrom := applyRuntime(cfg.Runtime)
	log.Info().Str("gc_percent", gcFrom).Str("memory_limit", limitFrom).Msg("Go runtime settings in force (runtime.gc_percent, runtime.memory_limit_mb)")
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	// SIGHUP reloads; caught from here on, so that one arriving while the
	// data plane starts waits instead of killing the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	p, err := plane.Start(cfg, log, events)
	if err != nil {
		log.Error().Err(err).Msg("cannot start")
		return err
	}
	vms := vm.NewManager(events, vm.FromConfig(cfg))
	vms.Start()
	p.SetVMActions(vms)
	opCtx, stopOps := context.WithCancel(ctx)
	var ops sync.WaitGroup
	runErr := operate(opCtx, &ops, &daemon{cfg: cfg, load: load, events: events, p: p, vms: vms, hup: hup}, log)
	if runErr == nil {
		runErr = p.Run(ctx)
	}
	stopOps()
	ops.Wait()
	p.SetVMActions(nil)
	vms.Stop()
	log.Info().Msg("stopping")
	closeErr := p.Close()
	if runErr != nil {
		log.Error().Err(runErr).Msg("control loop")
		return runErr
	}
	if closeErr != nil {
		log.Error().Err(closeErr).Msg("stopped with errors")
		return closeErr
	}
	events.Info("exit").Str("file_prefix", cfg.EAL.FilePrefix).
		Int("hugepage_files_left", len(dpdk.HugepageFiles(cfg.EAL.HugeDir, cfg.EAL.FilePrefix))).Msg("stopped cleanly")
	return nil
}
