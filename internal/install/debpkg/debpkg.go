// Package debpkg builds Orbis's Debian package with nfpm: the orbis binary
// and its static helpers in /usr/bin (the node finds the helpers beside
// orbis), the units of package install in /usr/lib/systemd/system (not
// enabled: `orbis install` or systemctl enables one), and docs/deploy.md.
// It is a build tool, apart from package install so that the orbis binary
// does not link nfpm.
package debpkg

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"

	"github.com/orbisproject/orbis/internal/install"
)

// Name is the package's name.
const Name = "orbis"

// Programs are what `make build` puts in bin/ and the package in /usr/bin:
// orbis, every running sliver's init (orbis-init and the idle form it
// turns into, orbis-idle, which the node looks for beside orbis), then
// the static helpers slivers' images get.
var Programs = []string{"orbis", "orbis-init", "orbis-idle", "ping-orbis", "plabdump", "orbis-lease", "orbis-admin"}

// Options say what to package.
type Options struct {
	// BinDir holds Programs, built.
	BinDir string
	// Doc is docs/deploy.md, shipped in /usr/share/doc/orbis.
	Doc string
	// Version is the package's version (Debian's syntax: it starts with a digit).
	Version string
	// Arch is Debian's name of the architecture (amd64).
	Arch string
	// Out is the .deb file to write.
	Out string
}

// postinst creates central's system user, which the central unit runs as,
// the way Debian's packages create theirs; units stay disabled.
var postinst = `#!/bin/sh
set -e
if [ "$1" = configure ]; then
	if ! getent passwd ` + install.DefaultUser + ` >/dev/null; then
		useradd ` + strings.Join(install.UserAddArgs(install.DefaultUser, install.DefaultCentralData), " ") + `
	fi
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
fi
`

// postrm tells a running systemd the units are gone. The user and the
// data directories stay, as Debian's packages leave theirs.
const postrm = `#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
fi
`

// Build writes the package to o.Out.
func Build(o Options) (err error) {
	if o.Version == "" || o.Version[0] < '0' || o.Version[0] > '9' {
		return fmt.Errorf("package version %q: want one that starts with a digit", o.Version)
	}
	tmp, err := os.MkdirTemp("", "orbis-deb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	contents, err := programs(o.BinDir)
	if err != nil {
		return err
	}
	for _, r := range []install.Role{install.Central, install.Node} {
		data := install.DefaultCentralData
		if r == install.Node {
			data = install.DefaultNodeState
		}
		unit := install.Unit(r, install.UnitOptions{Binary: install.DefaultBinary, DataDir: data, User: install.DefaultUser})
		c, err := file(tmp, r.UnitName(), unit, "/usr/lib/systemd/system/"+r.UnitName(), 0o644)
		if err != nil {
			return err
		}
		contents = append(contents, c)
	}
	contents = append(contents, &files.Content{Source: o.Doc, Destination: "/usr/share/doc/orbis/deploy.md",
		FileInfo: &files.ContentFileInfo{Mode: 0o644}})
	scripts := map[string]string{"postinst": postinst, "postrm": postrm}
	for name, s := range scripts {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
			return err
		}
		scripts[name] = p
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name: Name, Arch: o.Arch, Version: o.Version, VersionSchema: "none",
		Section: "net", Priority: "optional", Maintainer: "Orbis <orbis@localhost>",
		Description: "Orbis: PlanetLab's operating system in Go (central and node agent)\n" +
			"Slices of containers (slivers) on nodes, run by central (PLC). `orbis install central`\n" +
			"or `orbis install node` enables a service; see /usr/share/doc/orbis/deploy.md.",
		Homepage: "https://github.com/orbisproject/orbis", License: "BSD-3-Clause",
		MTime: time.Now().UTC().Truncate(time.Second),
		Overridables: nfpm.Overridables{
			Contents: contents,
			// What the node agent runs; central needs none of them.
			Recommends: []string{"busybox-static", "btrfs-progs", "e2fsprogs", "iproute2", "openssh-sftp-server", "debootstrap"},
			Scripts:    nfpm.Scripts{PostInstall: scripts["postinst"], PostRemove: scripts["postrm"]},
		},
	})
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return fmt.Errorf("package contents: %w", err)
	}
	f, err := os.Create(o.Out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(o.Out)
		}
	}()
	if err := deb.Default.Package(info, f); err != nil {
		return fmt.Errorf("build %s: %w", o.Out, err)
	}
	return nil
}

// programs lists Programs in binDir, each required.
func programs(binDir string) (files.Contents, error) {
	var cs files.Contents
	var missing []error
	for _, p := range Programs {
		src := filepath.Join(binDir, p)
		if _, err := os.Stat(src); err != nil {
			missing = append(missing, err)
			continue
		}
		cs = append(cs, &files.Content{Source: src, Destination: "/usr/bin/" + p, FileInfo: &files.ContentFileInfo{Mode: 0o755}})
	}
	if err := errors.Join(missing...); err != nil {
		return nil, fmt.Errorf("programs to package (make build makes them): %w", err)
	}
	return cs, nil
}

// file writes content to dir/name and returns it as the package's dst.
func file(dir, name, content, dst string, mode os.FileMode) (*files.Content, error) {
	src := filepath.Join(dir, name)
	if err := os.WriteFile(src, []byte(content), mode); err != nil {
		return nil, err
	}
	return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode}}, nil
}
