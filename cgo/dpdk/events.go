package dpdk

/*
#include "uplk.h"
*/
import "C"

import (
	"context"
	"fmt"
	"os"
	"time"
)

// EventType says what happened to a port.
type EventType int

const (
	// EventLink is a link-state change. On a vhost port it is the VM's
	// device becoming ready (new_device) or going away (destroy_device).
	EventLink EventType = C.RTE_ETH_EVENT_INTR_LSC
	// EventRemoved is a device removal (hot-unplug).
	EventRemoved EventType = C.RTE_ETH_EVENT_INTR_RMV
)

// Event is a port event from EAL's interrupt thread.
type Event struct {
	Port uint16
	Type EventType
}

// WatchEvents registers for link and removal events on ports and delivers
// them on the returned channel until ctx ends. Call it once.
func WatchEvents(ctx context.Context, ports []Port) (<-chan Event, error) {
	fd := C.uplk_event_fd()
	if fd < 0 {
		return nil, fmt.Errorf("event ring: %w", Errno(C.uplk_errno()))
	}
	for _, p := range ports {
		if rc := C.uplk_events_register(C.uint16_t(p.ID)); rc != 0 {
			return nil, fmt.Errorf("port %s: register events: %w", p.Name, Errno(-rc))
		}
	}
	// The eventfd is non-blocking, so os.NewFile puts it on the netpoller:
	// the goroutine below sleeps in Read until EAL's thread writes to it.
	f := os.NewFile(uintptr(fd), "uplk-events")
	out := make(chan Event, 64)
	go func() {
		<-ctx.Done()
		f.SetReadDeadline(aLongTimeAgo)
	}()
	go func() {
		defer close(out)
		var buf [8]byte
		for {
			if _, err := f.Read(buf[:]); err != nil {
				return
			}
			var port C.uint16_t
			var typ C.uint32_t
			for C.uplk_event_pop(&port, &typ) == 1 {
				select {
				case out <- Event{Port: uint16(port), Type: EventType(typ)}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// Watch adds a port, attached after WatchEvents, to the ports whose events
// arrive on its channel.
func (p Port) Watch() error {
	if rc := C.uplk_events_register(C.uint16_t(p.ID)); rc != 0 {
		return fmt.Errorf("port %s: register events: %w", p.Name, Errno(-rc))
	}
	return nil
}

// Unwatch stops a port's events, before it is detached.
func (p Port) Unwatch() error {
	if rc := C.uplk_events_unregister(C.uint16_t(p.ID)); rc != 0 {
		return fmt.Errorf("port %s: unregister events: %w", p.Name, Errno(-rc))
	}
	return nil
}

// PollLinks reads the link of ports every interval on EAL's interrupt
// thread and reports each change as an EventLink on the WatchEvents
// channel. Call WatchEvents first; StopPollingLinks ends it.
func PollLinks(ports []Port, interval time.Duration) error {
	if len(ports) == 0 {
		return nil
	}
	ids := make([]C.uint16_t, len(ports))
	for i, p := range ports {
		ids[i] = C.uint16_t(p.ID)
	}
	us := max(interval.Microseconds(), 1)
	if rc := C.uplk_link_poll_start(&ids[0], C.int(len(ids)), C.uint64_t(us)); rc != 0 {
		return fmt.Errorf("link polling: %w", Errno(-rc))
	}
	return nil
}

// StopPollingLinks ends PollLinks.
func StopPollingLinks() { C.uplk_link_poll_stop() }
