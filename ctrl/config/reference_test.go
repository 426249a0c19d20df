package config

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReferenceIsInStepWithTheSchema(t *testing.T) {
	ref, err := Reference(".")
	require.NoError(t, err)
	file, err := os.ReadFile("../../configs/reference.toml")
	require.NoError(t, err)
	assert.Equal(t, ref, string(file), "configs/reference.toml is stale: run go generate ./ctrl/config")
}

func TestReferenceIsAValidConfigWithEveryKeyDocumented(t *testing.T) {
	ref, err := Reference(".")
	require.NoError(t, err)
	for _, key := range []string{"file_prefix", "link_poll", "over_allocation_action", "syn_pps", "migrate_timeout", "socket", "listen",
		"[[teams]]", "[[nics]]", "[[vms]]", "[[hosts]]", "dos_standby", "preferred_nic", "suspend_on_failover"} {
		assert.Contains(t, ref, key)
	}
	assert.NotContains(t, ref, "UNDOCUMENTED", "every key needs a comment on its field in ctrl/config")
	// The top-level defaults it prints are a config (without teams, NICs
	// and VMs, which it only describes) that parses back.
	head, _, _ := strings.Cut(ref, "\n[[")
	_, err = Parse([]byte(head+"\n"), "toml")
	require.Error(t, err, "no team: not a whole config")
	assert.NotContains(t, err.Error(), "unknown key")
	assert.NotContains(t, err.Error(), "decod")
}
