package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
)

// Events are recorded whatever the log level: with the log at error,
// which shows neither the warn line of a NIC going down nor the info line
// of it coming back, `uplinkctl events` still has both transitions.
func TestEventsDoNotDependOnTheLogLevel(t *testing.T) {
	l := lab.New(t, bins)
	d := l.StartQuietUplinkd(twoNICTeam(l, "policy = \"vm-affinity\"\nup_delay = \"100ms\"", "", "", ""), "error")
	_, since := d.Events(0, 0)

	nicState := func(to string) func(lab.Event) bool {
		return func(e lab.Event) bool {
			return e.Str("event") == "nic_state" && e.Str("nic") == "nic2" && e.Str("to") == to
		}
	}
	l.InNS("ip", "link", "set", "dtap1", "down")
	d.WaitAPIEvent(since, "nic2 down", nicState("down"))
	l.InNS("ip", "link", "set", "dtap1", "up")
	d.WaitAPIEvent(since, "nic2 up", nicState("up"))

	var down, up lab.Event
	for _, line := range strings.Split(strings.TrimSpace(mustCtl(t, l, "events", "--json")), "\n") {
		var e lab.Event
		require.NoError(t, json.Unmarshal([]byte(line), &e), "uplinkctl events --json: %s", line)
		switch {
		case nicState("down")(e):
			down = e
		case nicState("up")(e):
			up = e
		}
	}
	require.NotNil(t, down, "uplinkctl events shows nic2 going down")
	require.NotNil(t, up, "uplinkctl events shows nic2 coming back")
	assert.Equal(t, "warn", down.Str("level"))
	assert.Equal(t, "failing", down.Str("from"))
	assert.Equal(t, "info", up.Str("level"))
	assert.Equal(t, "up-delay elapsed", up.Str("cause"))
	assert.NotEmpty(t, up.Str("time"))

	text := mustCtl(t, l, "events")
	assert.Regexp(t, `warn\s+nic_state\s+NIC nic2 failing -> down`, text)
	assert.Regexp(t, `info\s+nic_state\s+NIC nic2 recovering -> up`, text)
	assert.Regexp(t, `info\s+nic_link\s+link changed`, text)

	// The log itself kept to its level: none of this reached it.
	assert.Zero(t, d.CountSince(0, func(e lab.Event) bool { return e.Str("level") != "error" }),
		"uplinkd logged below error")
	d.Stop()
}
