package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// BitRate is a rate in bits per second. In config it is a number of
// bits/s or a string with an SI prefix: "200M", "1.5Gbit", "10G", "64kbps".
type BitRate float64

// PacketRate is a rate in packets per second: a number or "50k", "1.2Mpps".
type PacketRate float64

var siPrefix = map[byte]float64{'k': 1e3, 'K': 1e3, 'm': 1e6, 'M': 1e6, 'g': 1e9, 'G': 1e9, 't': 1e12, 'T': 1e12}

// parseRate reads "1.5G" and the like; units lists the unit suffixes
// accepted after the prefix (longest first).
func parseRate(s string, units ...string) (float64, error) {
	t := strings.TrimSpace(s)
	for _, u := range units {
		if strings.HasSuffix(t, u) {
			t = strings.TrimSuffix(t, u)
			break
		}
	}
	mult := 1.0
	if n := len(t); n > 0 {
		if m, ok := siPrefix[t[n-1]]; ok {
			mult, t = m, t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a rate like \"200M\" or \"1.5G%s\"", s, units[0])
	}
	return v * mult, nil
}

// rateHook decodes BitRate and PacketRate from strings and numbers.
func rateHook(from, to reflect.Type, data any) (any, error) {
	var units []string
	switch to {
	case reflect.TypeOf(BitRate(0)):
		units = []string{"bit/s", "bits", "bps", "bit"}
	case reflect.TypeOf(PacketRate(0)):
		units = []string{"pps"}
	default:
		return data, nil
	}
	var v float64
	switch d := data.(type) {
	case string:
		var err error
		if v, err = parseRate(d, units...); err != nil {
			return nil, err
		}
	case int:
		v = float64(d)
	case int64:
		v = float64(d)
	case float64:
		v = d
	default:
		return data, nil
	}
	if v < 0 {
		return nil, fmt.Errorf("%v: a rate cannot be negative", data)
	}
	if to == reflect.TypeOf(BitRate(0)) {
		return BitRate(v), nil
	}
	return PacketRate(v), nil
}
