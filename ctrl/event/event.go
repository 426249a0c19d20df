// Package event records what uplinkd does (NIC state changes, attacks, VM
// actions, reloads, API calls) as typed values. The record is kept whatever
// the log level: the API's /v1/events reads the last ones from the ring,
// and the log is one consumer among others, writing each event at its
// level. The status line is not an event; it goes to the log only.
package event

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/rs/zerolog"
)

// Event is one thing that happened: its kind ("nic_state"), when, how
// much it matters, what it says and its fields in the order added.
type Event struct {
	Kind    string
	Time    time.Time
	Level   zerolog.Level
	Message string
	Fields  []Field
}

// Get returns the value of the field named key, nil if there is none.
func (e *Event) Get(key string) any {
	for i := range e.Fields {
		if e.Fields[i].Key == key {
			return e.Fields[i].Value()
		}
	}
	return nil
}

type kind uint8

const (
	kindStr kind = iota
	kindStrs
	kindBool
	kindInt
	kindUint
	kindFloat
	kindDur
	kindTime
)

// Field is one named value of an event. It holds its value unboxed (no
// interface per field): events are built on control loops that must
// allocate little.
type Field struct {
	Key  string
	kind kind
	str  string
	num  uint64 // int64, uint64, float64 bits, bool, duration, time (Unix ns)
	strs []string
}

// Value is the field's value: string, []string, bool, int64, uint64,
// float64, time.Duration or time.Time.
func (f *Field) Value() any {
	switch f.kind {
	case kindStr:
		return f.str
	case kindStrs:
		return f.strs
	case kindBool:
		return f.num != 0
	case kindInt:
		return int64(f.num)
	case kindUint:
		return f.num
	case kindFloat:
		return math.Float64frombits(f.num)
	case kindDur:
		return time.Duration(f.num)
	default:
		return time.Unix(0, int64(f.num))
	}
}

// Pending is an event being built, field by field as on a zerolog.Event;
// Msg records it. A nil *Pending (from a nil *Log) takes every call and
// records nothing.
type Pending struct {
	log *Log
	ev  Event
	// inline holds the fields of a usual event, so that building one
	// costs one allocation.
	inline [8]Field
}

func (p *Pending) add(f Field) *Pending {
	if p != nil {
		p.ev.Fields = append(p.ev.Fields, f)
	}
	return p
}

// Str adds a string.
func (p *Pending) Str(key, v string) *Pending { return p.add(Field{Key: key, kind: kindStr, str: v}) }

// Strs adds a list of strings, copied: the caller may reuse its slice.
func (p *Pending) Strs(key string, v []string) *Pending {
	if p == nil {
		return p
	}
	return p.add(Field{Key: key, kind: kindStrs, strs: slices.Clone(v)})
}

// Bool adds a boolean.
func (p *Pending) Bool(key string, v bool) *Pending {
	var n uint64
	if v {
		n = 1
	}
	return p.add(Field{Key: key, kind: kindBool, num: n})
}

// Int adds a signed integer.
func (p *Pending) Int(key string, v int) *Pending {
	return p.add(Field{Key: key, kind: kindInt, num: uint64(int64(v))})
}

// Uint adds an unsigned integer.
func (p *Pending) Uint(key string, v uint) *Pending { return p.Uint64(key, uint64(v)) }

// Uint32 adds an unsigned integer.
func (p *Pending) Uint32(key string, v uint32) *Pending { return p.Uint64(key, uint64(v)) }

// Uint64 adds an unsigned integer.
func (p *Pending) Uint64(key string, v uint64) *Pending {
	return p.add(Field{Key: key, kind: kindUint, num: v})
}

// Float64 adds a floating-point number.
func (p *Pending) Float64(key string, v float64) *Pending {
	return p.add(Field{Key: key, kind: kindFloat, num: math.Float64bits(v)})
}

// Dur adds a duration (logged as zerolog logs durations).
func (p *Pending) Dur(key string, v time.Duration) *Pending {
	return p.add(Field{Key: key, kind: kindDur, num: uint64(v)})
}

// Time adds a point in time.
func (p *Pending) Time(key string, v time.Time) *Pending {
	return p.add(Field{Key: key, kind: kindTime, num: uint64(v.UnixNano())})
}

// Err adds err's text as the "error" field; a nil err adds nothing.
func (p *Pending) Err(err error) *Pending {
	if err == nil {
		return p
	}
	return p.Str(zerolog.ErrorFieldName, err.Error())
}

// Msg records the event with its message.
func (p *Pending) Msg(msg string) {
	if p == nil {
		return
	}
	p.ev.Message = msg
	p.ev.Time = time.Now()
	p.log.record(p.ev)
}

// Msgf records the event with a formatted message.
func (p *Pending) Msgf(format string, args ...any) {
	if p == nil {
		return
	}
	p.Msg(fmt.Sprintf(format, args...))
}
