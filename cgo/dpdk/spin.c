#include <rte_cycles.h>
#include "spin.h"

/* The loop of a worker with nothing in it: read the TSC, count the gap
 * since the last read by length. What it sees is what the machine (the
 * kernel, the hypervisor) takes from a core, the floor under any worker's
 * loop gaps there. */
uint64_t uplk_spin_gaps(uint64_t cycles, uint64_t us_per_cycle_q32, uint64_t *hist, int buckets)
{
	uint64_t start = rte_rdtsc(), last = start, max = 0;
	for (;;) {
		uint64_t now = rte_rdtsc();
		uint64_t gap = now - last;
		last = now;
		if (gap > max)
			max = gap;
		uint64_t us = (uint64_t)(((unsigned __int128)gap * us_per_cycle_q32) >> 32);
		int k = us ? 64 - __builtin_clzll(us) : 0;
		hist[k < buckets ? k : buckets - 1]++;
		if (now - start >= cycles)
			return max;
	}
}
