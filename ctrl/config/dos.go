package config

import (
	"fmt"
	"slices"
	"time"
)

// DoS is denial-of-service detection and response. The top-level [dos]
// table sets the defaults; a team's and a VM's own dos tables override
// them key by key (a key left out, or 0, inherits).
type DoS struct {
	// Enabled turns detection on for the VMs it applies to.
	Enabled *bool `mapstructure:"enabled"`
	// Window smooths every rate (EWMA time constant) and is the period of
	// the distinct-source count.
	Window time.Duration `mapstructure:"window"`
	// Hold: an attack ends when every rate stayed below its leave
	// threshold this long.
	Hold time.Duration `mapstructure:"hold"`
	// Enter thresholds, of traffic from the network to the VM (0: not
	// watched). Sources counts distinct source addresses per window.
	PPS PacketRate `mapstructure:"pps"`
	// BPS: enter threshold in bit/s of traffic to the VM (0: not watched).
	BPS BitRate `mapstructure:"bps"`
	// SYNPPS: enter threshold in TCP SYNs without ACK per second.
	SYNPPS PacketRate `mapstructure:"syn_pps"`
	// FragmentsPPS: enter threshold in IP fragments per second.
	FragmentsPPS PacketRate `mapstructure:"fragments_pps"`
	// AmplificationPPS: enter threshold in UDP frames per second from the
	// amplification ports (53, 123, 161, 389, 1900, 11211).
	AmplificationPPS PacketRate `mapstructure:"amplification_pps"`
	// Sources: enter threshold in distinct source addresses per window.
	Sources int `mapstructure:"sources"`
	// LeaveRatio: each leave threshold is its enter threshold times this.
	LeaveRatio float64 `mapstructure:"leave_ratio"`
	// Responses, carried out in order when an attack starts and undone
	// when it ends: rate-limit, delay, deprioritise, suspend,
	// suspend-others, failover, migrate.
	Responses []string `mapstructure:"responses"`
	// AttackLimitPPS: rate-limit lets this many SYN, amplification and
	// fragment frames a second through to the VM (0 drops them all).
	AttackLimitPPS PacketRate `mapstructure:"attack_limit_pps"`
	// Delay: the delay response delivers to the VM in batches this often.
	Delay time.Duration `mapstructure:"delay"`
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

// DoSFor is VM i's effective DoS settings: the defaults, overridden by its
// team's, overridden by its own.
func (c *Config) DoSFor(i int) DoS {
	d := c.DoS
	for _, t := range c.Teams {
		if t.Name == c.VMs[i].Team {
			d = d.override(t.DoS)
		}
	}
	return d.override(c.VMs[i].DoS)
}

// On says whether detection is enabled.
func (d DoS) On() bool { return d.Enabled != nil && *d.Enabled }

func (d DoS) override(o DoS) DoS {
	if o.Enabled != nil {
		d.Enabled = o.Enabled
	}
	pick := func(dst *time.Duration, v time.Duration) {
		if v != 0 {
			*dst = v
		}
	}
	pick(&d.Window, o.Window)
	pick(&d.Hold, o.Hold)
	pick(&d.Delay, o.Delay)
	for _, p := range []struct{ dst, v *PacketRate }{{&d.PPS, &o.PPS}, {&d.SYNPPS, &o.SYNPPS},
		{&d.FragmentsPPS, &o.FragmentsPPS}, {&d.AmplificationPPS, &o.AmplificationPPS}, {&d.AttackLimitPPS, &o.AttackLimitPPS}} {
		if *p.v != 0 {
			*p.dst = *p.v
		}
	}
	if o.BPS != 0 {
		d.BPS = o.BPS
	}
	if o.Sources != 0 {
		d.Sources = o.Sources
	}
	if o.LeaveRatio != 0 {
		d.LeaveRatio = o.LeaveRatio
	}
	if o.Responses != nil {
		d.Responses = o.Responses
	}
	return d
}

// validateDoS checks one dos table.
func validateDoS(bad func(string, string, ...any), key string, d DoS) {
	if d.Window < 0 || d.Window > 10*time.Second {
		bad(key+".window", "%v is outside 0-10s", d.Window)
	}
	if d.Hold < 0 || d.Hold > 10*time.Minute {
		bad(key+".hold", "%v is outside 0-10m", d.Hold)
	}
	if d.Delay < 0 || d.Delay > time.Second {
		bad(key+".delay", "%v is outside 0-1s", d.Delay)
	}
	if d.LeaveRatio < 0 || d.LeaveRatio > 1 {
		bad(key+".leave_ratio", "%v is outside 0-1", d.LeaveRatio)
	}
	if d.Sources < 0 {
		bad(key+".sources", "%d is negative", d.Sources)
	}
	for k, v := range map[string]float64{"pps": float64(d.PPS), "bps": float64(d.BPS), "syn_pps": float64(d.SYNPPS),
		"fragments_pps": float64(d.FragmentsPPS), "amplification_pps": float64(d.AmplificationPPS), "attack_limit_pps": float64(d.AttackLimitPPS)} {
		if v < 0 {
			bad(key+"."+k, "%v is negative", v)
		}
	}
	for j, r := range d.Responses {
		if !slices.Contains(DoSResponses, r) {
			bad(fmt.Sprintf("%s.responses[%d]", key, j), "%q is not one of %v", r, DoSResponses)
		}
	}
}
