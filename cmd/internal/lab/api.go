package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/stretchr/testify/require"
)

// apiClient talks HTTP to the lab's uplinkd over its API socket.
func (d *Daemon) apiClient() *http.Client {
	sock := d.lab.APISocket()
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var nd net.Dialer
		return nd.DialContext(ctx, "unix", sock)
	}}}
}

// waitAPI waits until uplinkd's API socket answers. A daemon logging at a
// quiet level says nothing when it is up, and the socket appearing is the
// one sign of it: this retries the connection until then.
func (d *Daemon) waitAPI(timeout time.Duration) {
	d.lab.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.Dial("unix", d.lab.APISocket())
		if err == nil {
			c.Close()
			return
		}
		d.mu.Lock()
		exited := d.exited
		d.mu.Unlock()
		require.False(d.lab.T, exited, "uplinkd exited before its API answered")
		require.True(d.lab.T, time.Now().Before(deadline), "uplinkd's API did not answer within %s: %v", timeout, err)
		time.Sleep(10 * time.Millisecond)
	}
}

// Events reads uplinkd's events numbered since and after from its API
// (/v1/events, what `uplinkctl events` shows), waiting up to wait for one,
// and the number to ask for next.
func (d *Daemon) Events(since uint64, wait time.Duration) ([]Event, uint64) {
	d.lab.T.Helper()
	c := d.apiClient()
	c.Timeout = wait + 10*time.Second
	resp, err := c.Get(fmt.Sprintf("http://uplinkd/v1/events?since=%d&wait=%s", since, wait))
	require.NoError(d.lab.T, err, "GET /v1/events")
	defer resp.Body.Close()
	var page struct {
		Events []Event `json:"events"`
		Next   uint64  `json:"next"`
	}
	require.NoError(d.lab.T, json.NewDecoder(resp.Body).Decode(&page), "GET /v1/events")
	return page.Events, page.Next
}

// WaitAPIEvent waits, through the API's long poll, for an event numbered
// since or later matching match, whatever uplinkd's log level.
func (d *Daemon) WaitAPIEvent(since uint64, what string, match func(Event) bool) Event {
	d.lab.T.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		evs, next := d.Events(since, time.Until(deadline))
		for _, e := range evs {
			if match(e) {
				return e
			}
		}
		since = next
	}
	d.lab.T.Fatalf("uplinkd: no %s among its API's events within 20s", what)
	return nil
}
