// Package guest holds the recipe of the test guest: the script that builds
// its kernel and initramfs from Debian packages, and its /init.
package guest

import _ "embed"

// BuildScript is configs/guest/build-image.sh.
//
//go:embed build-image.sh
var BuildScript []byte

// Init is configs/guest/init, the guest's /init.
//
//go:embed init
var Init []byte
