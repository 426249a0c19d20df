package dpdk

/*
#include <stdlib.h>
#include "uplk.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"unsafe"
)

// Errno is a DPDK error number (rte_errno or a negative return value).
type Errno int

func (e Errno) Error() string {
	return C.GoString(C.rte_strerror(C.int(e)))
}

// Init initialises the EAL with args (argv[0] included). EAL pins the calling
// thread to the main lcore, so Init locks the calling goroutine to its OS
// thread first: call it from main's goroutine and keep it there.
func Init(args []string) error {
	runtime.LockOSThread()
	// EAL permutes argv while parsing it, so free from a copy.
	argv := make([]*C.char, len(args))
	owned := make([]*C.char, len(args))
	for i, a := range args {
		argv[i] = C.CString(a)
		owned[i] = argv[i]
	}
	defer func() {
		for _, p := range owned {
			C.free(unsafe.Pointer(p))
		}
	}()
	var cerr C.int
	var ptr **C.char
	if len(argv) > 0 {
		ptr = &argv[0]
	}
	if C.uplk_eal_init(C.int(len(argv)), ptr, &cerr) < 0 {
		return fmt.Errorf("EAL init with %q: %w", strings.Join(args[1:], " "), Errno(cerr))
	}
	return nil
}

// Cleanup releases EAL resources. Call it last, after every port is closed.
func Cleanup() error {
	if rc := C.rte_eal_cleanup(); rc != 0 {
		return Errno(-rc)
	}
	return nil
}

// RemoveRuntimeFiles deletes what a process with this --file-prefix leaves
// behind: hugepage files and the /var/run/dpdk/<prefix> directory. EAL keeps
// them after cleanup so that secondary processes could still attach.
func RemoveRuntimeFiles(hugeDir, prefix string) error {
	var errs []error
	matches, _ := filepath.Glob(filepath.Join(hugeDir, prefix+"map_*"))
	for _, m := range matches {
		if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(filepath.Join("/var/run/dpdk", prefix)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// HugepageFiles lists the hugepage files of a --file-prefix.
func HugepageFiles(hugeDir, prefix string) []string {
	m, _ := filepath.Glob(filepath.Join(hugeDir, prefix+"map_*"))
	return m
}

// LcoreCPU is the first CPU an lcore is pinned to, or -1.
func LcoreCPU(lcore uint) int {
	return int(C.rte_lcore_to_cpu_id(C.int(lcore)))
}

// PinThreads sets the CPU affinity and nice value of every thread of this
// process except those in skip. After Init, the Go runtime's existing
// threads may run on any CPU; pinning them to the control CPUs keeps
// worker cores for workers. Threads the runtime creates later come from
// its template thread and inherit both.
func PinThreads(cpus []int, nice int, skip map[int]bool) error {
	var set unixCPUSet
	for _, c := range cpus {
		set.set(c)
	}
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, e := range ents {
		var tid int
		if _, err := fmt.Sscan(e.Name(), &tid); err != nil || skip[tid] {
			continue
		}
		_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(set), uintptr(unsafe.Pointer(&set)))
		if errno != 0 && errno != syscall.ESRCH {
			return fmt.Errorf("pin thread %d: %w", tid, errno)
		}
		// Linux's nice is per thread: PRIO_PROCESS with a thread ID.
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil && err != syscall.ESRCH {
			return fmt.Errorf("nice %d for thread %d: %w", nice, tid, err)
		}
	}
	return nil
}

type unixCPUSet [16]uint64

func (s *unixCPUSet) set(cpu int) { s[cpu/64] |= 1 << (uint(cpu) % 64) }

// TSC reads the time-stamp counter.
func TSC() uint64 { return uint64(C.uplk_tsc()) }

// TSCHz is the TSC frequency EAL measured.
func TSCHz() uint64 { return uint64(C.uplk_tsc_hz()) }
