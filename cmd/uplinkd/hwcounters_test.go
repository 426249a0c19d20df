package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
)

// A NIC's own counters, as its driver (net_tap here) keeps them, in the
// API, uplinkctl and the metrics: what it sent and what it dropped before
// the worker saw it.
func TestTheNICsDriverCountersShowWhatItSentAndDropped(t *testing.T) {
	l := lab.New(t, bins)
	vm := vmConf{name: "vm1", mac: polMAC1}
	d := l.StartUplinkd(oneNICTeam(l, "", "", vm))
	tap := l.OpenTap("dtap0")
	const n = 2000
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), polMAC1), "--count", fmt.Sprint(n), "--rate", "20000", "--size", "128", "--hold")
	g.WaitProgress("all sent", func(e lab.Event) bool { return lab.VM(e, "vm1")["sent"] == n })
	require.Equal(t, n, tap.WaitFromSrc(polMAC1, n, 20*time.Second), "every frame left by the tap")
	// The far end sends frames of its own to vm1; the tap's side sends
	// nothing else, so the driver must receive exactly these.
	const injected = 50
	for i := 0; i < injected; i++ {
		tap.Inject(lab.Frame(polMAC1, peer, 64))
	}
	d.WaitStatus("nic1's driver counted the injected frames and what the worker queued", func(e lab.Event) bool {
		return e.Num("nics.nic1.hw.rx_packets") == injected && e.Num("nics.nic1.hw.tx_packets") == e.Num("nics.nic1.tx_pkts")
	})
	// A status line reads the worker's counters as it last published them
	// (about every millisecond) and the driver's live, a moment later: the
	// driver may be ahead within one line (a CI run saw 50 against 0). The
	// worker catches up to exactly what the driver received.
	now := d.WaitStatus("the worker counted what nic1's driver received", func(e lab.Event) bool {
		return e.Num("nics.nic1.rx_pkts") >= injected
	})
	assert.Equal(t, float64(injected), now.Num("nics.nic1.rx_pkts"), "the worker received what the driver did, no more")
	assert.Equal(t, float64(injected), now.Num("nics.nic1.hw.rx_packets"), "and the driver nothing since")

	drops := []string{"imissed", "rx_nombuf", "ierrors", "oerrors"}
	var nics map[string]struct {
		HW map[string]float64 `json:"hw"`
	}
	require.NoError(t, json.Unmarshal([]byte(apiGet(t, l, "/v1/nics")), &nics))
	hw := nics["nic1"].HW
	assert.GreaterOrEqual(t, hw["tx_packets"], float64(n), "API: the driver sent the VM's frames (and uplinkd's own)")
	assert.Equal(t, float64(injected), hw["rx_packets"], "API: the driver received the injected frames")
	for _, k := range drops {
		if assert.Contains(t, hw, k, "API") {
			assert.Zero(t, hw[k], "API: %s", k)
		}
	}

	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, l, "nics", "--json")), &nics))
	assert.GreaterOrEqual(t, nics["nic1"].HW["tx_packets"], float64(n), "uplinkctl --json")
	row := regexp.MustCompile(`(?m)^nic1\s.*\s(\d+)\s+(\d+)\s+(\S+)$`).FindStringSubmatch(mustCtl(t, l, "nics"))
	if assert.NotNil(t, row, "uplinkctl nics: a nic1 row ending in HW RX PKTS, HW TX PKTS, HW DROPS") {
		tx, _ := strconv.Atoi(row[2])
		assert.GreaterOrEqual(t, tx, n, "uplinkctl nics: HW TX PKTS")
		assert.Equal(t, "0", row[3], "uplinkctl nics: HW DROPS")
	}

	fams := scrape(t, l)
	assert.GreaterOrEqual(t, value(t, fams, "uplinkd_nic_hw_packets_total", map[string]string{"nic": "nic1", "direction": "tx"}), float64(n))
	for _, k := range drops {
		assert.Zero(t, value(t, fams, "uplinkd_nic_hw_drops_total", map[string]string{"nic": "nic1", "reason": k}), k)
	}
	g.Finish(true)
	st := d.Stop()
	assert.GreaterOrEqual(t, st.Num("nics.nic1.hw.tx_packets"), float64(n), "the status line")
}
