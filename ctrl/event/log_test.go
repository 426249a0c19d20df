package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTheRingKeepsTheLastEvents(t *testing.T) {
	l := New(3)
	for i := 0; i < 5; i++ {
		l.Info("nic_state").Int("n", i).Msg("")
	}
	evs, next := l.Since(0, 0)
	assert.EqualValues(t, 5, next)
	require.Len(t, evs, 3, "the ring keeps three")
	assert.EqualValues(t, 2, evs[0].Get("n"), "the oldest kept")
	assert.EqualValues(t, 4, evs[2].Get("n"))
	evs, _ = l.Since(4, 0)
	require.Len(t, evs, 1)
	assert.EqualValues(t, 4, evs[0].Get("n"))
	evs, next = l.Since(5, 0)
	assert.Empty(t, evs)
	assert.EqualValues(t, 5, next)
}

func TestSinceWaitsForTheNextEvent(t *testing.T) {
	l := New(8)
	got := make(chan []Event, 1)
	go func() {
		evs, _ := l.Since(0, time.Minute)
		got <- evs
	}()
	l.Warn("dos_start").Str("vm", "vm1").Msg("attack")
	evs := <-got
	require.Len(t, evs, 1)
	assert.Equal(t, "dos_start", evs[0].Kind)
}

func TestSinceReturnsEmptyAfterItsWait(t *testing.T) {
	l := New(8)
	l.Info("ready").Msg("")
	evs, next := l.Since(1, time.Millisecond)
	assert.Empty(t, evs)
	assert.EqualValues(t, 1, next)
}

// The ring is the record, the log a consumer filtered by its level: an
// event below the log's level is still kept.
func TestEventsAreKeptWhateverTheLogLevel(t *testing.T) {
	var out bytes.Buffer
	l := New(8, ToLog(zerolog.New(&out).Level(zerolog.ErrorLevel)))
	l.Info("nic_state").Str("nic", "nic1").Str("to", "up").Msg("NIC nic1 recovering -> up")
	l.Warn("nic_state").Str("nic", "nic1").Str("to", "down").Msg("NIC nic1 failing -> down")
	l.Error("vm_action").Str("vm", "vm1").Msg("VM vm1 migrate: failed")
	evs, _ := l.Since(0, 0)
	require.Len(t, evs, 3)
	assert.Equal(t, "up", evs[0].Get("to"))
	assert.Equal(t, zerolog.InfoLevel, evs[0].Level)
	assert.Equal(t, "down", evs[1].Get("to"))
	assert.Equal(t, zerolog.WarnLevel, evs[1].Level)
	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	require.Len(t, lines, 1, "the log shows only what reaches its level: %s", out.String())
	assert.Contains(t, string(lines[0]), `"event":"vm_action"`)
}

// The log line and /v1/events' JSON are the same line, every field type
// written as zerolog writes it.
func TestTheLogLineAndTheJSONAreTheEventAsZerologWritesIt(t *testing.T) {
	zerolog.TimeFieldFormat = time.RFC3339Nano
	var out bytes.Buffer
	l := New(4, ToLog(zerolog.New(&out)))
	since := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	l.Warn("nic_state").Str("nic", "nic2").Bool("up", false).Int("repeat", -2).Uint32("speed_mbps", 10000).
		Uint64("transitions", 7).Float64("value", 1.5).Dur("in_previous_state", 1500*time.Microsecond).
		Time("since", since).Strs("vms", []string{"vm1"}).Strs("none", nil).Err(errors.New("boom")).Err(nil).
		Msgf("NIC %s down", "nic2")
	evs, _ := l.Since(0, 0)
	require.Len(t, evs, 1)
	js, err := json.Marshal(evs[0])
	require.NoError(t, err)
	assert.JSONEq(t, out.String(), string(js), "the ring's JSON is the log line")

	var got map[string]any
	require.NoError(t, json.Unmarshal(js, &got))
	ts, err := time.Parse(time.RFC3339Nano, got["time"].(string))
	require.NoError(t, err)
	assert.True(t, ts.Equal(evs[0].Time), "the line carries the event's own time")
	delete(got, "time")
	assert.Equal(t, map[string]any{
		"level": "warn", "event": "nic_state", "nic": "nic2", "up": false, "repeat": -2.0, "speed_mbps": 10000.0,
		"transitions": 7.0, "value": 1.5, "in_previous_state": 1.5, "since": since.Local().Format(time.RFC3339Nano),
		"vms": []any{"vm1"}, "none": []any{}, "error": "boom", "message": "NIC nic2 down",
	}, got)
}

func TestStrsKeepsItsOwnCopy(t *testing.T) {
	l := New(2)
	vms := []string{"vm1"}
	l.Info("nic_state").Strs("vms", vms).Msg("")
	vms[0] = "reused"
	evs, _ := l.Since(0, 0)
	assert.Equal(t, []string{"vm1"}, evs[0].Get("vms"))
}

func TestANilLogRecordsNothingAndDoesNotFail(t *testing.T) {
	var l *Log
	l.Info("ready").Str("a", "b").Strs("c", nil).Bool("d", true).Int("e", 1).Uint("f", 1).Uint32("g", 1).
		Uint64("h", 1).Float64("i", 1).Dur("j", 1).Time("k", time.Now()).Err(fmt.Errorf("x")).Msgf("%d", 1)
	l.Error("x").Msg("")
}

// Recording costs one allocation for an event of up to eight fields;
// writing it to a log below the event's level costs none.
func TestRecordingAnEventAllocatesOnce(t *testing.T) {
	l := New(16, ToLog(zerolog.New(&bytes.Buffer{}).Level(zerolog.ErrorLevel)))
	allocs := testing.AllocsPerRun(100, func() {
		l.Info("nic_link").Str("nic", "nic1").Bool("up", true).Uint32("speed_mbps", 10000).Str("cause", "poll").Msg("link changed")
	})
	assert.Equal(t, 1.0, allocs)
}
