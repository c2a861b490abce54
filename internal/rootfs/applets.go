package rootfs

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
)

// hiddenApplets are the busybox applets an image's busybox loses, so that
// the programs of the same names installed in the image run instead.
// Busybox's shell, built with FEATURE_SH_STANDALONE as Debian's static
// busybox is, runs its own applets before it searches PATH: typed in it,
// `ping` ran busybox's ping, which needs a raw socket a sliver lacks,
// rather than /usr/bin/ping (ping-orbis, through the node's raw socket
// service). Functions or aliases in /etc/profile would not reach `sh -c`.
var hiddenApplets = []string{"ping", "ping6", "traceroute", "traceroute6"}

// hideApplets renames the applets called names in the busybox binary at file,
// whose applets are applets (paths, in the binary's own order, as
// busyboxApplets lists them), so that neither its shell nor its applet
// links find them. Busybox looks applets up in one table of their names,
// NUL-separated and sorted; each hidden name gets its last byte replaced
// by 0x01, a name no one types, and the table must stay sorted. The
// applets' links stay, for the image's own programs to replace.
func hideApplets(file string, applets, names []string) error {
	var table [][]byte
	for _, a := range applets {
		table = append(table, []byte(path.Base(a)))
	}
	bin, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("hide busybox applets: %w", err)
	}
	old := append(bytes.Join(table, []byte{0}), 0)
	if n := bytes.Count(bin, old); n != 1 {
		return fmt.Errorf("hide busybox applets: the table of applet names is found %d times in %s, want once", n, file)
	}
	for _, name := range table {
		if slices.Contains(names, string(name)) {
			name[len(name)-1] = 1
		}
	}
	if !slices.IsSortedFunc(table, bytes.Compare) {
		return fmt.Errorf("hide busybox applets %s: the renamed table would not be sorted", strings.Join(names, ", "))
	}
	at := bytes.Index(bin, old)
	copy(bin[at:], append(bytes.Join(table, []byte{0}), 0))
	if err := os.WriteFile(file, bin, 0o755); err != nil {
		return fmt.Errorf("hide busybox applets: %w", err)
	}
	return nil
}
