/* launch.c: the trampoline that runs a Go function on an EAL lcore. It lives
 * in its own file because it includes _cgo_export.h. */
#include "uplk.h"
#include "_cgo_export.h"

static int lcore_main(void *arg)
{
	return uplkLcoreMain((uintptr_t)arg);
}

int uplk_launch(unsigned lcore, uintptr_t handle)
{
	return rte_eal_remote_launch(lcore_main, (void *)handle, lcore);
}
