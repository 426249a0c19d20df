package dpdk

/*
#include <rte_errno.h>
#include <rte_pdump.h>

static int uplk_pdump_init(int *err)
{
	int ret = rte_pdump_init();
	*err = ret < 0 ? rte_errno : 0;
	return ret;
}
*/
import "C"

// EnableCapture lets DPDK's secondary-process capture tools (dpdk-dumpcap,
// dpdk-pdump) attach to this process's ports: it registers the request
// handler they talk to. It costs nothing per packet until a tool asks for
// a port; then that port's rx and tx callbacks copy what they see to the
// tool. Call it once after Init.
func EnableCapture() error {
	var cerr C.int
	if C.uplk_pdump_init(&cerr) < 0 {
		return Errno(cerr)
	}
	return nil
}

// DisableCapture unregisters the handler EnableCapture registered.
func DisableCapture() { C.rte_pdump_uninit() }
