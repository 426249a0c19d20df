package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/ctrl/report"
)

// series gathers c and returns name{labels} -> value for one family.
func series(t *testing.T, c *Collector, family string) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	fams, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != family {
			continue
		}
		require.Equal(t, dto.MetricType_COUNTER, f.GetType(), family)
		for _, m := range f.Metric {
			key := ""
			for _, l := range m.Label {
				key += l.GetName() + "=" + l.GetValue() + " "
			}
			out[key] = m.Counter.GetValue()
		}
	}
	return out
}

func TestNICDriverCountersAreExportedByReasonAndDirection(t *testing.T) {
	r := report.Report{NICs: map[string]report.NICReport{
		"nic1": {HW: &report.NICHWReport{RxPackets: 10, TxPackets: 20, IMissed: 1, RxNoMbuf: 2, IErrors: 3, OErrors: 4}},
		"nic2": {}, // its driver would not say
	}}
	c := New(func() report.Report { return r }, nil)
	assert.Equal(t, map[string]float64{
		"nic=nic1 reason=imissed ": 1, "nic=nic1 reason=rx_nombuf ": 2, "nic=nic1 reason=ierrors ": 3, "nic=nic1 reason=oerrors ": 4,
	}, series(t, c, "uplinkd_nic_hw_drops_total"))
	assert.Equal(t, map[string]float64{"direction=rx nic=nic1 ": 10, "direction=tx nic=nic1 ": 20},
		series(t, c, "uplinkd_nic_hw_packets_total"))
}

func TestLoopGapsAreExportedAsACumulativeHistogramInSeconds(t *testing.T) {
	r := report.Report{LoopGaps: []uint64{5, 0, 3, 1}, LoopGapBoundsUS: []float64{1, 2, 4}, LoopGapSeconds: 0.25}
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(New(func() report.Report { return r }, nil)))
	fams, err := reg.Gather()
	require.NoError(t, err)
	var h *dto.Histogram
	for _, f := range fams {
		if f.GetName() == "uplinkd_worker_loop_gap_seconds" {
			require.Equal(t, dto.MetricType_HISTOGRAM, f.GetType())
			h = f.Metric[0].Histogram
		}
	}
	require.NotNil(t, h)
	assert.EqualValues(t, 9, h.GetSampleCount(), "the last count is past every bound")
	assert.Equal(t, 0.25, h.GetSampleSum())
	var got [][2]float64
	for _, b := range h.Bucket {
		got = append(got, [2]float64{b.GetUpperBound(), float64(b.GetCumulativeCount())})
	}
	assert.Equal(t, [][2]float64{{1e-6, 5}, {2e-6, 5}, {4e-6, 8}}, got)
}
