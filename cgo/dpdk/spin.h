#include <stdint.h>

uint64_t uplk_spin_gaps(uint64_t cycles, uint64_t us_per_cycle_q32, uint64_t *hist, int buckets);
