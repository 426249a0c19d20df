// Command uplinkctl inspects and drives a running uplinkd through its API
// socket: status, VMs, NICs and teams as tables (or --json), a live top,
// NIC admin down and up, and VM suspend, resume and migrate.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/uplinkd/uplinkd/ctrl/report"
)

type client struct {
	http   *http.Client
	socket string
	json   bool
	out    io.Writer
}

func main() {
	c := &client{out: os.Stdout}
	root := &cobra.Command{
		Use:   "uplinkctl",
		Short: "Inspect and drive a running uplinkd",
		Long: `uplinkctl talks to uplinkd over its API socket (api.socket in uplinkd's
config, /run/uplinkd/uplinkd.sock by default; root only). Tables by
default, --json for scripts.`,
		SilenceUsage: true,
		PersistentPreRun: func(*cobra.Command, []string) {
			c.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, "unix", c.socket)
				}}}
		},
	}
	f := root.PersistentFlags()
	f.StringVarP(&c.socket, "api", "s", "/run/uplinkd/uplinkd.sock", "uplinkd's API socket")
	// --socket was the API socket's flag before vm add took it for the
	// VM's vhost-user socket; elsewhere it still works.
	f.StringVar(&c.socket, "socket", "/run/uplinkd/uplinkd.sock", "uplinkd's API socket")
	f.MarkDeprecated("socket", "use --api")
	f.BoolVar(&c.json, "json", false, "print JSON instead of tables")
	root.AddCommand(
		c.reportCmd("status", "VMs, NICs, teams and the worker's figures", func(r report.Report) any { return r }, c.printStatus),
		c.reportCmd("vms", "the VMs: link, rates, allocation, drops, DoS state", func(r report.Report) any { return r.VMs }, c.printVMs),
		c.reportCmd("nics", "the NICs: link, failover state, rates, drops", func(r report.Report) any { return r.NICs }, c.printNICs),
		c.reportCmd("teams", "the teams: policy, NICs, VMs", func(r report.Report) any { return r.Teams }, c.printTeams),
		c.topCmd(), c.eventsCmd(), c.teamCmd(), c.nicCmd(), c.vmCmd(), c.reloadCmd(), c.libvirtHookCmd())
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}

// call does one request and decodes the JSON answer into v (if not nil);
// an error answer becomes the error.
func (c *client) call(method, path string, v any) error { return c.send(method, path, nil, v) }

// send is call with a JSON body (nil: none).
func (c *client) send(method, path string, body, v any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://uplinkd"+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("uplinkd at %s: %w", c.socket, unwrapDial(err))
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		if json.Unmarshal(answer, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(answer, v)
}

func unwrapDial(err error) error {
	var op *net.OpError
	for e := err; e != nil; {
		if o, ok := e.(*net.OpError); ok {
			op = o
			break
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	if op != nil {
		return op.Err
	}
	return err
}

func (c *client) report() (report.Report, error) {
	var r report.Report
	return r, c.call("GET", "/v1/status", &r)
}

func (c *client) printJSON(v any) error {
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

type eventPage struct {
	Events []json.RawMessage `json:"events"`
	Next   uint64            `json:"next"`
}

// printEvent prints one event: as it is with --json, else its time, kind
// and message.
func (c *client) printEvent(raw json.RawMessage) {
	if c.json {
		var b bytes.Buffer
		if json.Compact(&b, raw) != nil {
			b.Write(raw)
		}
		fmt.Fprintln(c.out, b.String())
		return
	}
	var e struct {
		Time    time.Time `json:"time"`
		Level   string    `json:"level"`
		Event   string    `json:"event"`
		Message string    `json:"message"`
	}
	json.Unmarshal(raw, &e)
	fmt.Fprintf(c.out, "%s  %-5s  %-14s %s\n", e.Time.Local().Format("15:04:05.000"), e.Level, e.Event, e.Message)
}
