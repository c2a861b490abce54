package rootfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// NetToolsName is the file name of the static ping/traceroute program
// (internal/rawsock/cmd/ping-orbis) that images get: slivers have no raw
// sockets of their own, so their ping and traceroute go through the
// node's safe raw socket service.
const NetToolsName = "ping-orbis"

// DumpToolName is the file name of the static plabdump program
// (internal/rawsock/cmd/plabdump): a sliver's pcap capture of a port its
// slice owns, through the service's sniffer sockets. It is installed when
// it is found beside NetToolsName.
const DumpToolName = "plabdump"

// AdminToolName is the file name of the static orbis-admin program
// (internal/admin/cmd/orbis-admin): the admin slice's client of the
// node's admin service. Every image gets it when it is found beside
// NetToolsName; only slivers of slices with the admin privilege find the
// service it calls.
const AdminToolName = "orbis-admin"

// defaultNetTools is ping-orbis beside the running orbis binary, where
// `make build` puts it, or "" if it is not there.
func defaultNetTools() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(exe), NetToolsName)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// installNetTools puts the tools at /usr/lib/orbis/ping-orbis in the tree
// at root and makes /usr/bin/ping and /usr/bin/traceroute (and /bin/ping,
// /bin/traceroute where the image had them) point to it; plabdump, when
// it is beside ping-orbis, goes to /usr/lib/orbis/plabdump with
// /usr/bin/plabdump pointing to it, and orbis-admin likewise.
func installNetTools(tools, root string, progress io.Writer) error {
	if err := installPingTools(tools, root, progress); err != nil || tools == "" {
		return err
	}
	dir := filepath.Dir(tools)
	if err := installTool(dir, DumpToolName, "plabdump through the node's raw socket service", root, progress); err != nil {
		return err
	}
	return installTool(dir, AdminToolName, "orbis-admin for admin slices", root, progress)
}

// installTool installs the program name from dir, if it is there, at
// /usr/lib/orbis/NAME with /usr/bin/NAME pointing to it.
func installTool(dir, name, what, root string, progress io.Writer) error {
	src := filepath.Join(dir, name)
	if _, err := os.Stat(src); err != nil {
		fmt.Fprintln(progress, "image: no "+name+" beside "+NetToolsName+": slivers will have no "+name+" (make build makes it)")
		return nil
	}
	dst := filepath.Join(root, "usr/lib/orbis", name)
	if err := copyFile(src, dst, 0o755); err != nil {
		return fmt.Errorf("install %s: %w", name, err)
	}
	link := filepath.Join(root, "usr/bin", name)
	if err := os.Remove(link); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Symlink("/usr/lib/orbis/"+name, link); err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	fmt.Fprintln(progress, "image: "+what)
	return nil
}

// installPingTools installs ping-orbis as ping and traceroute.
func installPingTools(tools, root string, progress io.Writer) error {
	if tools == "" {
		fmt.Fprintln(progress, "image: no "+NetToolsName+" beside orbis: ping and traceroute will not work in slivers (make build makes it)")
		return nil
	}
	dst := filepath.Join(root, "usr/lib/orbis", NetToolsName)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := copyFile(tools, dst, 0o755); err != nil {
		return fmt.Errorf("install %s: %w", NetToolsName, err)
	}
	links := []string{"usr/bin/ping", "usr/bin/traceroute"}
	for _, old := range []string{"bin/ping", "bin/traceroute", "usr/bin/ping6", "usr/bin/traceroute6", "bin/ping6"} {
		if _, err := os.Lstat(filepath.Join(root, old)); err == nil {
			links = append(links, old)
		}
	}
	for _, l := range links {
		p := filepath.Join(root, l)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("/usr/lib/orbis/"+NetToolsName, p); err != nil {
			return fmt.Errorf("link %s: %w", l, err)
		}
	}
	fmt.Fprintln(progress, "image: ping and traceroute through the node's raw socket service")
	return nil
}
