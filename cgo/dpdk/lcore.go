package dpdk

/*
#include "uplk.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"runtime/cgo"
	"syscall"
	"unsafe"
)

// Workers run as EAL lcores calling into Go (rte_eal_remote_launch of a C
// trampoline, Launch). The other model, a goroutine locked to its thread,
// pinned and registered with rte_thread_register (LaunchRegistered), is kept
// so that make bench can measure both on the real worker: they run at the
// same cost per packet, but registering a thread switches off multi-process
// support, and dpdk-proc-info, dpdk-pdump and dpdk-dumpcap are what an
// operator reaches for when a data plane misbehaves.

// Lcore is a function running on an EAL worker lcore.
type Lcore struct {
	id   uint
	done chan error
	tid  chan int
	// registered: a Go thread registered with EAL, not an EAL lcore.
	registered bool
}

type lcoreCall struct {
	fn   func() error
	done chan error
	tid  chan int
}

//export uplkLcoreMain
func uplkLcoreMain(h C.uintptr_t) C.int {
	// Locked to its thread (a callback is anyway), the goroutine makes the
	// runtime create any thread it needs from this one through its
	// template thread: a thread cloned from here would inherit the lcore's
	// CPU and take turns with the worker on it (the bench saw one such
	// thread cost the worker half a second of every nine).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	handle := cgo.Handle(h)
	call := handle.Value().(*lcoreCall)
	handle.Delete()
	call.tid <- syscall.Gettid()
	err := call.fn()
	call.done <- err
	if err != nil {
		return -1
	}
	return 0
}

// Launch runs fn on lcore, which must be an idle EAL worker lcore. fn runs
// on the lcore's own pinned thread for as long as it does not return.
func Launch(lcore uint, fn func() error) (*Lcore, error) {
	call := &lcoreCall{fn: fn, done: make(chan error, 1), tid: make(chan int, 1)}
	h := cgo.NewHandle(call)
	if rc := C.uplk_launch(C.uint(lcore), C.uintptr_t(h)); rc != 0 {
		h.Delete()
		return nil, fmt.Errorf("launch on lcore %d: %w", lcore, Errno(-rc))
	}
	return &Lcore{id: lcore, done: call.done, tid: call.tid}, nil
}

// ThreadID waits until the lcore's function has started and returns the OS
// thread id it runs on.
func (l *Lcore) ThreadID() int {
	t := <-l.tid
	l.tid <- t
	return t
}

// Wait blocks until fn has returned, then reaps the lcore. It waits on a
// channel first because rte_eal_wait_lcore busy-spins.
func (l *Lcore) Wait() error {
	err := <-l.done
	if !l.registered {
		C.rte_eal_wait_lcore(C.uint(l.id))
	}
	return err
}

// LaunchRegistered runs fn on a new OS thread pinned to cpu and registered
// with EAL as a non-EAL lcore. cpu must not be one of EAL's lcores. The
// thread ends with fn: it stays locked, so the Go runtime discards it.
func LaunchRegistered(cpu int, fn func() error) (*Lcore, error) {
	l := &Lcore{done: make(chan error, 1), tid: make(chan int, 1), registered: true}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var set unixCPUSet
		set.set(cpu)
		if _, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(set), uintptr(unsafe.Pointer(&set))); errno != 0 {
			started <- fmt.Errorf("pin thread to cpu %d: %w", cpu, errno)
			return
		}
		id := C.uplk_thread_register()
		if id < 0 {
			started <- fmt.Errorf("rte_thread_register: %w", Errno(-id))
			return
		}
		l.id = uint(id)
		started <- nil
		l.tid <- syscall.Gettid()
		err := fn()
		C.rte_thread_unregister()
		l.done <- err
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return l, nil
}
