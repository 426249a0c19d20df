package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestEventLogKeepsTheLastEventsButNotStatusLines(t *testing.T) {
	l := NewEventLog(3)
	for i := 0; i < 5; i++ {
		fmt.Fprintf(l, `{"event":"nic_state","n":%d}`+"\n", i)
		fmt.Fprintln(l, `{"event":"status","vms":{}}`)
		fmt.Fprintln(l, `{"message":"no event field"}`)
	}
	evs, next := l.Since(0, 0)
	assert.EqualValues(t, 5, next)
	assert.Len(t, evs, 3, "the ring keeps three")
	assert.JSONEq(t, `{"event":"nic_state","n":2}`, string(evs[0]), "the oldest kept")
	evs, _ = l.Since(4, 0)
	assert.Len(t, evs, 1)
	evs, next = l.Since(5, 0)
	assert.Empty(t, evs)
	assert.EqualValues(t, 5, next)
}

func TestEventLogSinceWaitsForTheNextEvent(t *testing.T) {
	l := NewEventLog(8)
	got := make(chan int, 1)
	go func() {
		evs, _ := l.Since(0, time.Minute)
		got <- len(evs)
	}()
	fmt.Fprintln(l, `{"event":"dos_start"}`)
	assert.Equal(t, 1, <-got)
}
