package plane

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/fastpath"
)

// The tables take the model's policies and MACs by conversion: the two
// must mean the same.
func TestModelPoliciesAndMACsConvertToTheFastPaths(t *testing.T) {
	require.Equal(t, len(fastpath.PolicyNames()), len(model.PolicyNames()))
	for i, name := range model.PolicyNames() {
		assert.Equal(t, name, fastpath.Policy(model.Policy(i)).String())
	}
	for _, s := range []string{"02:00:00:00:00:01", "02:ab:cd:ef:01:23", "fe:ff:ff:ff:ff:fe"} {
		m, err := model.ParseMAC(s)
		require.NoError(t, err)
		f, err := fastpath.ParseMAC(s)
		require.NoError(t, err)
		assert.Equal(t, f, fastpath.MAC(m), s)
	}
}
