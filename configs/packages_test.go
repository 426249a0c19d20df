package configs

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The build image installs what `make deps` installs: the Makefile's
// DEB_PACKAGES (its variables expanded) are all in Dockerfile.build's
// apt-get install, and the image adds only the tools a bare image lacks.
func TestDockerfileInstallsTheMakefilesPackages(t *testing.T) {
	mk, err := os.ReadFile("../Makefile")
	require.NoError(t, err)
	df, err := os.ReadFile("../Dockerfile.build")
	require.NoError(t, err)

	vars := map[string][]string{}
	joined := strings.ReplaceAll(string(mk), "\\\n", " ")
	for _, m := range regexp.MustCompile(`(?m)^([A-Z_]+) :=(.*)$`).FindAllStringSubmatch(joined, -1) {
		vars[m[1]] = strings.Fields(m[2])
	}
	var expand func(words []string) []string
	expand = func(words []string) []string {
		var out []string
		for _, w := range words {
			if v, ok := strings.CutPrefix(w, "$("); ok {
				out = append(out, expand(vars[strings.TrimSuffix(v, ")")])...)
			} else {
				out = append(out, w)
			}
		}
		return out
	}
	want := expand(vars["DEB_PACKAGES"])
	require.NotEmpty(t, want)

	install := regexp.MustCompile(`(?s)apt-get install -y --no-install-recommends(.*?)&&`).FindStringSubmatch(strings.ReplaceAll(string(df), "\\\n", " "))
	require.NotNil(t, install, "Dockerfile.build has no apt-get install line")
	got := strings.Fields(install[1])
	for _, p := range want {
		assert.Contains(t, got, p, "Dockerfile.build lacks %s from the Makefile", p)
	}
	extra := []string{"ca-certificates", "curl", "git", "make"}
	for _, p := range got {
		if !slices.Contains(want, p) {
			assert.Contains(t, extra, p, "Dockerfile.build installs %s, which the Makefile does not", p)
		}
	}
}
