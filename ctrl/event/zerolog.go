package event

import (
	"bytes"
	"math"
	"time"

	"github.com/rs/zerolog"
)

// ToLog is the consumer that writes each event to log at its level, as
// one line: {"level", "event": kind, fields..., "time", "message"}. log
// must not add a timestamp of its own: the line carries the event's time.
func ToLog(log zerolog.Logger) Consumer {
	return func(e *Event) { e.writeTo(log) }
}

func (e *Event) writeTo(log zerolog.Logger) {
	z := log.WithLevel(e.Level)
	if z == nil {
		return
	}
	z.Str("event", e.Kind)
	for i := range e.Fields {
		f := &e.Fields[i]
		switch f.kind {
		case kindStr:
			z.Str(f.Key, f.str)
		case kindStrs:
			z.Strs(f.Key, f.strs)
		case kindBool:
			z.Bool(f.Key, f.num != 0)
		case kindInt:
			z.Int64(f.Key, int64(f.num))
		case kindUint:
			z.Uint64(f.Key, f.num)
		case kindFloat:
			z.Float64(f.Key, math.Float64frombits(f.num))
		case kindDur:
			z.Dur(f.Key, time.Duration(f.num))
		case kindTime:
			z.Time(f.Key, time.Unix(0, int64(f.num)))
		}
	}
	z.Time(zerolog.TimestampFieldName, e.Time).Msg(e.Message)
}

// MarshalJSON is the event as the JSON log writes it: /v1/events serves
// the lines the log would have had.
func (e Event) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	e.writeTo(zerolog.New(&b))
	return bytes.TrimSpace(b.Bytes()), nil
}
