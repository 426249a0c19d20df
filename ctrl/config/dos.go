package config

import (
	"fmt"
	"slices"
	"time"
)

// DoS is denial-of-service detection and response, as one table gives it.
// The top-level [dos] table sets the defaults; a team's and a VM's own dos
// tables override them key by key: a key the table leaves out inherits,
// one it sets (to 0 too) is its own. A key is a pointer so that left out
// (nil) and 0 stay apart; DoSFor resolves them into DoSSettings.
type DoS struct {
	// Enabled turns detection on for the VMs it applies to.
	Enabled *bool `mapstructure:"enabled"`
	// Window smooths every rate (EWMA time constant); the top-level one is
	// also the period of the distinct-source count. 0: no smoothing, each
	// rate is the last tick's (and [dos] window 0 counts sources per 10ms).
	Window *time.Duration `mapstructure:"window"`
	// Hold: an attack ends when every rate stayed below its leave
	// threshold this long (0: at the first tick they all are).
	Hold *time.Duration `mapstructure:"hold"`
	// PPS: enter threshold in packets/s of traffic from the network to the
	// VM. For every threshold, 0 means the rate is not watched.
	PPS *PacketRate `mapstructure:"pps"`
	// BPS: enter threshold in bit/s of traffic to the VM (0: not watched).
	BPS *BitRate `mapstructure:"bps"`
	// SYNPPS: enter threshold in TCP SYNs without ACK per second (0: not
	// watched).
	SYNPPS *PacketRate `mapstructure:"syn_pps"`
	// FragmentsPPS: enter threshold in IP fragments per second (0: not
	// watched).
	FragmentsPPS *PacketRate `mapstructure:"fragments_pps"`
	// AmplificationPPS: enter threshold in UDP frames per second from the
	// amplification ports (53, 123, 161, 389, 1900, 11211) (0: not
	// watched).
	AmplificationPPS *PacketRate `mapstructure:"amplification_pps"`
	// Sources: enter threshold in distinct source addresses per window (0:
	// not watched).
	Sources *int `mapstructure:"sources"`
	// LeaveRatio: each leave threshold is its enter threshold times this,
	// above 0 (at 0 no rate could fall below its leave threshold, and no
	// attack would end) and at most 1.
	LeaveRatio *float64 `mapstructure:"leave_ratio"`
	// Responses, carried out in order when an attack starts and undone
	// when it ends: rate-limit, delay, deprioritise, suspend,
	// suspend-others, failover, migrate ([]: detect and log only).
	Responses []string `mapstructure:"responses"`
	// AttackLimitPPS: rate-limit lets this many SYN, amplification and
	// fragment frames a second through to the VM (0 drops them all).
	AttackLimitPPS *PacketRate `mapstructure:"attack_limit_pps"`
	// Delay: the delay response delivers to the VM in batches this often
	// (0: at once, the response holds nothing).
	Delay *time.Duration `mapstructure:"delay"`
}

// DoSSettings are one VM's effective DoS settings: the keys of DoS, each
// resolved from the VM's, its team's or the [dos] table, 0 meaning what
// DoS says it means.
type DoSSettings struct {
	Enabled                          bool
	Window, Hold, Delay              time.Duration
	PPS, SYNPPS, FragmentsPPS        PacketRate
	AmplificationPPS, AttackLimitPPS PacketRate
	BPS                              BitRate
	Sources                          int
	LeaveRatio                       float64
	Responses                        []string
}

// DoSResponses are the responses an attack can get.
var DoSResponses = []string{"rate-limit", "delay", "deprioritise", "suspend", "suspend-others", "failover", "migrate"}

func dosDefaults(set func(string, any)) {
	set("dos.enabled", false)
	set("dos.window", "10ms")
	set("dos.hold", "200ms")
	set("dos.syn_pps", 5000)
	set("dos.fragments_pps", 10000)
	set("dos.amplification_pps", 5000)
	set("dos.sources", 500)
	set("dos.leave_ratio", 0.5)
	set("dos.responses", []string{"rate-limit"})
	set("dos.attack_limit_pps", 1000)
	set("dos.delay", "5ms")
}

// DoSDefaults are the [dos] table's settings, before any team or VM
// overrides them.
func (c *Config) DoSDefaults() DoSSettings { return DoSSettings{}.override(c.DoS) }

// DoSFor is VM i's effective DoS settings: the defaults, overridden by its
// team's, overridden by its own.
func (c *Config) DoSFor(i int) DoSSettings {
	d := c.DoSDefaults()
	for _, t := range c.Teams {
		if t.Name == c.VMs[i].Team {
			d = d.override(t.DoS)
		}
	}
	return d.override(c.VMs[i].DoS)
}

// On says whether detection is enabled.
func (d DoSSettings) On() bool { return d.Enabled }

// override takes every key table o sets, 0 or not.
func (d DoSSettings) override(o DoS) DoSSettings {
	take(&d.Enabled, o.Enabled)
	take(&d.Window, o.Window)
	take(&d.Hold, o.Hold)
	take(&d.PPS, o.PPS)
	take(&d.BPS, o.BPS)
	take(&d.SYNPPS, o.SYNPPS)
	take(&d.FragmentsPPS, o.FragmentsPPS)
	take(&d.AmplificationPPS, o.AmplificationPPS)
	take(&d.Sources, o.Sources)
	take(&d.LeaveRatio, o.LeaveRatio)
	if o.Responses != nil {
		d.Responses = o.Responses
	}
	take(&d.AttackLimitPPS, o.AttackLimitPPS)
	take(&d.Delay, o.Delay)
	return d
}

func take[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// validateDoS checks one dos table.
func validateDoS(bad func(string, string, ...any), key string, d DoS) {
	within := func(k string, v *time.Duration, most time.Duration, bound string) {
		if v != nil && (*v < 0 || *v > most) {
			bad(key+"."+k, "%v is outside 0-%s", *v, bound)
		}
	}
	within("window", d.Window, 10*time.Second, "10s")
	within("hold", d.Hold, 10*time.Minute, "10m")
	within("delay", d.Delay, time.Second, "1s")
	if r := d.LeaveRatio; r != nil {
		switch {
		case *r < 0 || *r > 1:
			bad(key+".leave_ratio", "%v is outside 0-1", *r)
		case *r == 0:
			bad(key+".leave_ratio", "0 would end no attack: every leave threshold would be 0, and no rate falls below 0")
		}
	}
	if d.Sources != nil && *d.Sources < 0 {
		bad(key+".sources", "%d is negative", *d.Sources)
	}
	for _, r := range []struct {
		k string
		v *PacketRate
	}{{"pps", d.PPS}, {"syn_pps", d.SYNPPS}, {"fragments_pps", d.FragmentsPPS}, {"amplification_pps", d.AmplificationPPS},
		{"attack_limit_pps", d.AttackLimitPPS}} {
		if r.v != nil && *r.v < 0 {
			bad(key+"."+r.k, "%v is negative", float64(*r.v))
		}
	}
	if d.BPS != nil && *d.BPS < 0 {
		bad(key+".bps", "%v is negative", float64(*d.BPS))
	}
	for j, r := range d.Responses {
		if !slices.Contains(DoSResponses, r) {
			bad(fmt.Sprintf("%s.responses[%d]", key, j), "%q is not one of %v", r, DoSResponses)
		}
	}
}
