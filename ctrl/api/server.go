// Package api is uplinkd's local control API: JSON over HTTP on a unix
// socket that only root may open (mode 0600), for uplinkctl and scripts.
// Reads: the report (status, VMs, NICs, teams) and /metrics. Acts: NIC
// admin down and up, VM suspend, resume and migrate, config reload.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/uplinkd/uplinkd/ctrl/event"
	"github.com/uplinkd/uplinkd/ctrl/report"
)

// Backend is what the API reads and acts on: the daemon.
type Backend interface {
	Report() report.Report
	SetNICAdmin(name string, up bool) error
	// VMAction queues action (suspend, resume, migrate) for vm; host names
	// a [[hosts]] entry for migrate.
	VMAction(vm, action, host string) error
	// Reload re-reads the config file and puts it in force; it returns
	// the keys that changed, or why the new config was refused (the old
	// one stays).
	Reload() ([]string, error)
	// AddVM adds a VM described by [[vms]] keys, kept across restarts
	// unless transient; RemoveVM removes one. Either changes nothing when
	// it fails, and says why.
	AddVM(keys map[string]any, transient bool) error
	RemoveVM(name string) error
	// AddNIC and RemoveNIC are the same for a NIC joining or leaving its
	// team ([[nics]] keys), AddTeam and RemoveTeam for an empty team
	// ([[teams]] keys).
	AddNIC(keys map[string]any, transient bool) error
	RemoveNIC(name string) error
	AddTeam(keys map[string]any, transient bool) error
	RemoveTeam(name string) error
}

// Listen creates the socket at path, replacing a stale one, readable and
// writable by its owner alone.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("api.socket: %w", err)
	}
	// A socket left by a daemon that died is replaced; one that answers
	// belongs to a running uplinkd, whose API must not be taken away.
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("api.socket: %s: another uplinkd answers there", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("api.socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("api.socket: %w", err)
	}
	return ln, nil
}

// Handler routes the API. metrics serves /metrics, events /v1/events
// (either nil: none); the API's own actions are recorded in events.
func Handler(b Backend, metrics http.Handler, events *event.Log) http.Handler {
	mux := http.NewServeMux()
	if events != nil {
		// ?since=N&wait=30s: the events from N on, waiting for one.
		mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
			since, _ := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
			wait, _ := time.ParseDuration(r.URL.Query().Get("wait"))
			evs, next := events.Since(since, min(wait, time.Minute))
			reply(w, http.StatusOK, map[string]any{"events": evs, "next": next})
		})
	}
	read := func(path string, pick func(report.Report) any) {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) { reply(w, http.StatusOK, pick(b.Report())) })
	}
	read("/v1/status", func(r report.Report) any { return r })
	read("/v1/vms", func(r report.Report) any { return r.VMs })
	read("/v1/nics", func(r report.Report) any { return r.NICs })
	read("/v1/teams", func(r report.Report) any { return r.Teams })
	mux.HandleFunc("POST /v1/nics/{name}/{state}", func(w http.ResponseWriter, r *http.Request) {
		name, state := r.PathValue("name"), r.PathValue("state")
		if state != "up" && state != "down" {
			fail(w, http.StatusNotFound, fmt.Errorf("nic %s: %q is not up or down", name, state))
			return
		}
		if err := b.SetNICAdmin(name, state == "up"); err != nil {
			fail(w, http.StatusNotFound, err)
			return
		}
		events.Info("api").Str("nic", name).Str("admin", state).Msg("NIC set " + state + " through the API")
		reply(w, http.StatusOK, map[string]string{"nic": name, "admin": state})
	})
	// A team, NIC or VM added: a JSON object of its config table's keys, as
	// in the config file; ?transient=1: not kept across restarts. Removing
	// a NIC fails its traffic over first; a team goes once it is empty.
	for _, e := range []struct {
		path, kind, table string
		add               func(Backend, map[string]any, bool) error
		remove            func(Backend, string) error
	}{
		{"/v1/teams", "team", "[[teams]]", Backend.AddTeam, Backend.RemoveTeam},
		{"/v1/nics", "nic", "[[nics]]", Backend.AddNIC, Backend.RemoveNIC},
		{"/v1/vms", "vm", "[[vms]]", Backend.AddVM, Backend.RemoveVM},
	} {
		mux.HandleFunc("POST "+e.path, func(w http.ResponseWriter, r *http.Request) {
			var keys map[string]any
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&keys); err != nil {
				fail(w, http.StatusBadRequest, fmt.Errorf("a %s is a JSON object of %s keys: %w", e.kind, e.table, err))
				return
			}
			transient, _ := strconv.ParseBool(r.URL.Query().Get("transient"))
			if err := e.add(b, keys, transient); err != nil {
				fail(w, http.StatusUnprocessableEntity, err)
				return
			}
			reply(w, http.StatusCreated, map[string]any{e.kind: keys["name"], "result": "added"})
		})
		mux.HandleFunc("DELETE "+e.path+"/{name}", func(w http.ResponseWriter, r *http.Request) {
			name := r.PathValue("name")
			if err := e.remove(b, name); err != nil {
				fail(w, http.StatusUnprocessableEntity, err)
				return
			}
			reply(w, http.StatusOK, map[string]string{e.kind: name, "result": "removed"})
		})
	}
	mux.HandleFunc("POST /v1/vms/{name}/{action}", func(w http.ResponseWriter, r *http.Request) {
		name, action := r.PathValue("name"), r.PathValue("action")
		host := r.URL.Query().Get("host")
		if err := b.VMAction(name, action, host); err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		events.Info("api").Str("vm", name).Str("action", action).Str("host", host).Msg("VM action queued through the API")
		reply(w, http.StatusAccepted, map[string]string{"vm": name, "action": action, "host": host, "result": "queued"})
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		changed, err := b.Reload()
		if err != nil {
			fail(w, http.StatusUnprocessableEntity, err)
			return
		}
		reply(w, http.StatusOK, map[string]any{"changed": nonNil(changed)})
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	// The Go runtime's profiles and execution trace, for finding what
	// stalls the worker (a trace shows every preemption, GC phase and
	// thread hand-off around it). The socket is root's only.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// Serve answers on ln until ctx ends.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// nonNil makes an empty list [] in JSON, not null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func fail(w http.ResponseWriter, code int, err error) {
	reply(w, code, map[string]string{"error": err.Error()})
}
