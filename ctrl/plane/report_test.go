package plane

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/uplinkd/uplinkd/cgo/dpdk"
	"github.com/uplinkd/uplinkd/ctrl/report"
)

func TestANICsDriverCountersLandInTheirOwnReportFields(t *testing.T) {
	s := dpdk.Stats{IPackets: 1, OPackets: 2, IBytes: 3, OBytes: 4, IMissed: 5, IErrors: 6, OErrors: 7, RxNoMbuf: 8}
	hw := hwReport(s)
	assert.Equal(t, &report.NICHWReport{RxPackets: 1, TxPackets: 2, IMissed: 5, RxNoMbuf: 8, IErrors: 6, OErrors: 7}, hw)
	assert.Equal(t, [4]uint64{5, 8, 6, 7}, hw.Drops(), "in HWDropReasons' order: imissed, rx_nombuf, ierrors, oerrors")
	assert.EqualValues(t, 26, hw.DropTotal())
}
