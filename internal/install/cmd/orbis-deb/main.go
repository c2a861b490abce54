// Command orbis-deb builds Orbis's Debian package (`make deb`) from the
// programs `make build` put in bin/.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/orbisproject/orbis/internal/install/debpkg"
)

func main() {
	var o debpkg.Options
	flag.StringVar(&o.BinDir, "bin", "bin", "directory of the built programs")
	flag.StringVar(&o.Doc, "doc", "docs/deploy.md", "the deployment guide to ship")
	flag.StringVar(&o.Version, "version", "", "package version (starts with a digit)")
	flag.StringVar(&o.Arch, "arch", runtime.GOARCH, "Debian architecture")
	flag.StringVar(&o.Out, "o", "", "the .deb to write (default: bin/orbis_VERSION_ARCH.deb)")
	flag.Parse()
	if o.Out == "" {
		o.Out = fmt.Sprintf("%s/%s_%s_%s.deb", o.BinDir, debpkg.Name, o.Version, o.Arch)
	}
	if err := debpkg.Build(o); err != nil {
		fmt.Fprintln(os.Stderr, "orbis-deb:", err)
		os.Exit(1)
	}
	fmt.Println(o.Out)
}
