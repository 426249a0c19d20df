package vm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
)

// qmpConn is a QMP client: one unix connection, one command at a time,
// asynchronous events skipped. go-qemu's qmp package was tried first: it
// negotiates through a json.Decoder and then reads the socket through a
// second, independent reader, and a destination QEMU just out of a
// migration answered query-status with {"return": {}} through it now and
// then (reproduced here); one buffered reader for the whole session
// cannot mix replies up.
type qmpConn struct {
	c net.Conn
	r *bufio.Reader
}

// qmpReply is a command's answer or an event.
type qmpReply struct {
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event string `json:"event"`
	QMP   any    `json:"QMP"`
}

// dialQMP connects to path, reads the greeting and leaves capabilities
// negotiation mode. The connection's deadline is ctx's.
func dialQMP(ctx context.Context, path string) (*qmpConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	q := &qmpConn{c: c, r: bufio.NewReader(c)}
	greeting, err := q.read()
	if err == nil && greeting.QMP == nil {
		err = fmt.Errorf("not a QMP greeting")
	}
	if err == nil {
		_, err = q.run("qmp_capabilities", nil)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return q, nil
}

func (q *qmpConn) Close() error { return q.c.Close() }

func (q *qmpConn) read() (qmpReply, error) {
	var r qmpReply
	line, err := q.r.ReadBytes('\n')
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(line, &r)
}

// run sends one command and returns its "return" value, skipping events.
func (q *qmpConn) run(cmd string, args any) (json.RawMessage, error) {
	msg := map[string]any{"execute": cmd}
	if args != nil {
		msg["arguments"] = args
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	if _, err := q.c.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("qmp %s: %w", cmd, err)
	}
	for {
		r, err := q.read()
		switch {
		case err != nil:
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = context.DeadlineExceeded
			}
			return nil, fmt.Errorf("qmp %s: %w", cmd, err)
		case r.Event != "":
			continue
		case r.Error != nil:
			return nil, fmt.Errorf("qmp %s: %s: %s", cmd, r.Error.Class, r.Error.Desc)
		case r.Return != nil:
			return r.Return, nil
		}
	}
}
