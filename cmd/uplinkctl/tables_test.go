package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/uplinkd/uplinkd/ctrl/report"
)

func TestNICsShowTheDriversCountersAndDropsByReason(t *testing.T) {
	var out strings.Builder
	c := &client{out: &out}
	c.printNICs(report.Report{NICs: map[string]report.NICReport{
		"nic1": {HW: &report.NICHWReport{RxPackets: 7, TxPackets: 9}},
		"nic2": {HW: &report.NICHWReport{RxPackets: 1, TxPackets: 2, IMissed: 3, OErrors: 4}},
		"nic3": {},
	}})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	assert.Regexp(t, `HW RX PKTS\s+HW TX PKTS\s+HW DROPS$`, lines[0])
	assert.Regexp(t, `^nic1\s.*\s7\s+9\s+0$`, lines[1])
	assert.Regexp(t, `^nic2\s.*\s1\s+2\s+imissed=3 oerrors=4$`, lines[2])
	assert.Regexp(t, `^nic3\s.*\s-\s+-\s+-$`, lines[3])
}
