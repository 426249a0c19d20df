package api

import (
	"bytes"
	"encoding/json"
	"sync"
	"time"
)

// EventLog keeps the daemon's recent structured log events (NIC state
// changes, attacks, VM actions, API calls; not the status lines) for
// `uplinkctl events`. It is an io.Writer for zerolog: every line written is
// one JSON event.
type EventLog struct {
	mu      sync.Mutex
	changed *sync.Cond
	ring    []json.RawMessage
	next    uint64 // sequence number of the next event; ring holds the last len(ring)
}

// NewEventLog keeps the last n events.
func NewEventLog(n int) *EventLog {
	l := &EventLog{ring: make([]json.RawMessage, n)}
	l.changed = sync.NewCond(&l.mu)
	return l
}

// Write records one log line if it is an event other than a status line.
func (l *EventLog) Write(p []byte) (int, error) {
	if !bytes.Contains(p, []byte(`"event":`)) || bytes.Contains(p, []byte(`"event":"status"`)) {
		return len(p), nil
	}
	line := json.RawMessage(bytes.TrimSpace(bytes.Clone(p)))
	l.mu.Lock()
	l.ring[l.next%uint64(len(l.ring))] = line
	l.next++
	l.changed.Broadcast()
	l.mu.Unlock()
	return len(p), nil
}

// Since returns the events numbered since and after (the oldest kept, if
// since is older), waiting up to wait for one when there is none yet, and
// the number to ask for next.
func (l *EventLog) Since(since uint64, wait time.Duration) ([]json.RawMessage, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if since >= l.next && wait > 0 {
		timer := time.AfterFunc(wait, func() { l.mu.Lock(); l.changed.Broadcast(); l.mu.Unlock() })
		defer timer.Stop()
		deadline := time.Now().Add(wait)
		for since >= l.next && time.Now().Before(deadline) {
			l.changed.Wait()
		}
	}
	oldest := uint64(0)
	if l.next > uint64(len(l.ring)) {
		oldest = l.next - uint64(len(l.ring))
	}
	since = max(since, oldest)
	out := make([]json.RawMessage, 0, l.next-min(since, l.next))
	for i := since; i < l.next; i++ {
		out = append(out, l.ring[i%uint64(len(l.ring))])
	}
	return out, l.next
}
