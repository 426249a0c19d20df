package main

import (
	"math"
	"os"
	"runtime/debug"

	"github.com/uplinkd/uplinkd/ctrl/config"
)

// applyRuntime puts the config's runtime keys in force, at start and
// after each reload, and says where each setting came from. GOGC and
// GOMEMLIMIT in the environment win, so that an operator's usual knobs
// keep working.
func applyRuntime(r config.Runtime) (gcFrom, limitFrom string) {
	gcFrom, limitFrom = "config", "config"
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(r.GCPercent)
	} else {
		gcFrom = "environment"
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		bytes := int64(math.MaxInt64)
		if r.MemoryLimitMB > 0 {
			bytes = int64(r.MemoryLimitMB) << 20
		}
		debug.SetMemoryLimit(bytes)
	} else {
		limitFrom = "environment"
	}
	return gcFrom, limitFrom
}
