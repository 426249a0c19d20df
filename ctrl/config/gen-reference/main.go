// Command gen-reference writes configs/reference.toml from the schema
// (go generate ./ctrl/config).
package main

import (
	"fmt"
	"os"

	"github.com/uplinkd/uplinkd/ctrl/config"
)

func main() {
	ref, err := config.Reference(".")
	if err == nil {
		err = os.WriteFile(os.Args[1], []byte(ref), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
