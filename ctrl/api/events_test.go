package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/ctrl/event"
)

// /v1/events serves each event as the JSON line the log writes for it
// (what uplinkctl events prints), and the number to ask for next.
func TestEventsAreServedAsTheirLogLines(t *testing.T) {
	zerolog.TimeFieldFormat = time.RFC3339Nano
	events := event.New(8)
	events.Info("nic_state").Str("nic", "nic1").Str("from", "recovering").Str("to", "up").Msg("NIC nic1 recovering -> up")
	events.Warn("dos_start").Str("vm", "vm1").Strs("responses", []string{"delay"}).Msg("VM vm1 under attack")
	srv := httptest.NewServer(Handler(nil, nil, events))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/v1/events?since=1")
	require.NoError(t, err)
	defer resp.Body.Close()
	var page struct {
		Events []map[string]any `json:"events"`
		Next   uint64           `json:"next"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	assert.EqualValues(t, 2, page.Next)
	require.Len(t, page.Events, 1, "since=1: the second event on")
	e := page.Events[0]
	_, err = time.Parse(time.RFC3339Nano, e["time"].(string))
	assert.NoError(t, err, "time")
	delete(e, "time")
	assert.Equal(t, map[string]any{"level": "warn", "event": "dos_start", "vm": "vm1", "responses": []any{"delay"},
		"message": "VM vm1 under attack"}, e)
}
