package event

import (
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Consumer is handed every event as it is recorded, in the order of the
// record. It runs under the Log's lock: it must not call the Log, nor
// change e (the ring holds it).
type Consumer func(e *Event)

// Log is the record of events: it keeps the last ones in a ring, for
// /v1/events and its long poll, and hands each to its consumers (the
// daemon's log). A nil *Log records nothing, so that code under test can
// run without one.
type Log struct {
	mu        sync.Mutex
	changed   *sync.Cond
	ring      []Event
	next      uint64 // sequence number of the next event; ring holds the last len(ring)
	consumers []Consumer
}

// New keeps the last n events and hands each to consumers.
func New(n int, consumers ...Consumer) *Log {
	l := &Log{ring: make([]Event, n), consumers: consumers}
	l.changed = sync.NewCond(&l.mu)
	return l
}

// Info starts an event of kind at info level.
func (l *Log) Info(kind string) *Pending { return l.WithLevel(zerolog.InfoLevel, kind) }

// Warn starts an event of kind at warn level.
func (l *Log) Warn(kind string) *Pending { return l.WithLevel(zerolog.WarnLevel, kind) }

// Error starts an event of kind at error level.
func (l *Log) Error(kind string) *Pending { return l.WithLevel(zerolog.ErrorLevel, kind) }

// WithLevel starts an event of kind at level lvl. The level says how the
// log shows it; the ring keeps it whatever the level.
func (l *Log) WithLevel(lvl zerolog.Level, kind string) *Pending {
	if l == nil {
		return nil
	}
	p := &Pending{log: l, ev: Event{Kind: kind, Level: lvl}}
	p.ev.Fields = p.inline[:0]
	return p
}

func (l *Log) record(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	slot := &l.ring[l.next%uint64(len(l.ring))]
	*slot = e
	l.next++
	for _, c := range l.consumers {
		c(slot)
	}
	l.changed.Broadcast()
}

// Since returns the events numbered since and after (the oldest kept, if
// since is older), waiting up to wait for one when there is none yet, and
// the number to ask for next.
func (l *Log) Since(since uint64, wait time.Duration) ([]Event, uint64) {
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
	out := make([]Event, 0, l.next-min(since, l.next))
	for i := since; i < l.next; i++ {
		out = append(out, l.ring[i%uint64(len(l.ring))])
	}
	return out, l.next
}
