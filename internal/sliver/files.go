package sliver

import (
	"strings"

	"github.com/orbisproject/orbis/internal/sandbox"
)

// AuthorizedKeys is where the node keeps the slice's SSH keys in a sliver,
// for the sliver's own use: the SSH gateway trusts only the keys in the
// spec the node holds, never this file, which the sliver's root can write.
const AuthorizedKeys = "/root/.ssh/authorized_keys"

// Files are the files the node keeps in the sliver of s: the slice's
// SSH keys and its boot script (removed when it has none). The sandbox
// writes them as the sliver sees them (sandbox.InstallFiles), whatever
// the sliver's root planted on their way.
func Files(s Spec) []sandbox.File {
	keys := strings.Join(s.Keys, "\n")
	if keys != "" {
		keys += "\n"
	}
	return []sandbox.File{{
		Path: AuthorizedKeys,
		Dirs: []sandbox.Dir{{Path: "/root", Mode: 0o700}, {Path: "/root/.ssh", Mode: 0o700}},
		Mode: 0o600,
		Data: []byte(keys),
	}, {
		Path:   BootScript,
		Dirs:   []sandbox.Dir{{Path: "/etc", Mode: 0o755}},
		Mode:   0o755,
		Data:   []byte(s.InitScript),
		Remove: s.InitScript == "",
	}}
}
