// Package install makes Orbis a systemd service: `orbis install central`
// and `orbis install node` write a unit and the settings file it names
// under /etc/orbis, create central's system user, and enable and start
// the unit; `orbis uninstall` undoes it. Every path is under a root
// directory (Options.Root, "/" on a real machine), so tests install into a
// temporary tree and leave the host's /etc untouched.
package install

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// A Role is what a machine runs: central or a node agent.
type Role string

// The two roles.
const (
	Central Role = "central"
	Node    Role = "node"
)

// Defaults of the installed services.
const (
	DefaultBinary      = "/usr/bin/orbis"
	DefaultUser        = "orbis"
	DefaultCentralData = "/var/lib/orbis-central"
	DefaultNodeState   = "/var/lib/orbis"
	// ConfigDir holds each unit's settings file (ORBIS_ARGS).
	ConfigDir = "/etc/orbis"
	// UnitDir is where install writes its units (the administrator's
	// place, which overrides the package's /usr/lib/systemd/system).
	UnitDir = "/etc/systemd/system"
)

// UnitName is the systemd unit of role.
func (r Role) UnitName() string { return "orbis-" + string(r) + ".service" }

// ConfigFile is the settings file the unit of role reads.
func (r Role) ConfigFile() string { return ConfigDir + "/" + string(r) + ".env" }

// dataFlag is the flag of `orbis central|node` that names its data
// directory.
func (r Role) dataFlag() string {
	if r == Central {
		return "--data"
	}
	return "--state"
}

// ParseRole checks a role named on the command line.
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case Central, Node:
		return Role(s), nil
	}
	return "", fmt.Errorf("unknown role %q (want central or node)", s)
}

// UnitOptions are the facts a unit names.
type UnitOptions struct {
	// Binary is the orbis binary, as seen on the installed machine.
	Binary string
	// DataDir is central's data directory or the node's state directory.
	DataDir string
	// User runs central (the node agent runs as root).
	User string
	// LowPort gives central CAP_NET_BIND_SERVICE, to listen on a port
	// below 1024 (443).
	LowPort bool
}

// Unit returns the systemd unit of role.
func Unit(role Role, o UnitOptions) string {
	var b strings.Builder
	if role == Central {
		writeCentral(&b, o)
	} else {
		writeNode(&b, o)
	}
	return b.String()
}

func writeCentral(b *strings.Builder, o UnitOptions) {
	fmt.Fprintf(b, `[Unit]
Description=Orbis central (PLC): PLCAPI, the JSON API and the nodes' channel
Documentation=file:/usr/share/doc/orbis/deploy.md
After=network-online.target postgresql.service
Wants=network-online.target

[Service]
Type=exec
User=%[1]s
Group=%[1]s
EnvironmentFile=-%[2]s
ExecStart=%[3]s central %[4]s %[5]s $ORBIS_ARGS
Restart=on-failure
RestartSec=2s
# Each node holds a long poll open: room for many nodes.
LimitNOFILE=65536
UMask=0077

# Central needs its data directory and the network, nothing else.
NoNewPrivileges=yes
ProtectSystem=strict
%[6]s
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
# AF_NETLINK: central lists this machine's addresses for its certificate.
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
SystemCallArchitectures=native
SystemCallFilter=@system-service
`, o.User, Central.ConfigFile(), o.Binary, Central.dataFlag(), o.DataDir, writable(o.DataDir))
	if o.LowPort {
		b.WriteString("CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n")
	} else {
		b.WriteString("CapabilityBoundingSet=\n")
	}
	b.WriteString("\n[Install]\nWantedBy=multi-user.target\n")
}

// writable is the directive that lets central write its data directory:
// systemd makes one under /var/lib as central's (StateDirectory), so the
// package's unit starts without `orbis install`.
func writable(dir string) string {
	if rel, ok := strings.CutPrefix(dir, "/var/lib/"); ok && rel != "" {
		return "StateDirectory=" + rel + "\nStateDirectoryMode=0750"
	}
	return "ReadWritePaths=" + dir
}

func writeNode(b *strings.Builder, o UnitOptions) {
	fmt.Fprintf(b, `[Unit]
Description=Orbis node agent: node manager, slivers, SSH gateway, sensors, auditor
Documentation=file:/usr/share/doc/orbis/deploy.md
After=network-online.target
Wants=network-online.target

[Service]
Type=exec
EnvironmentFile=-%[1]s
ExecStart=%[2]s node %[3]s %[4]s $ORBIS_ARGS
# systemctl reload: the agent reads its local policy and the bandwidth cap
# of `+"`orbis node bwcap`"+` again.
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=2s
# Slivers are processes of their own that outlive the agent: stopping or
# restarting the unit (an upgrade) signals the agent alone, and the next
# agent adopts the running slivers.
KillMode=process
TasksMax=infinity
LimitNOFILE=1048576
# The agent should be the last process the kernel kills for memory.
OOMScoreAdjust=-900
# No sandboxing directives: the agent is root by design (it makes
# namespaces, cgroups, mounts and nft tables), every seccomp filter or
# device policy would be inherited by the slivers it starts, and a private
# mount namespace would hide the slivers' mounts from the next agent.
`, Node.ConfigFile(), o.Binary, Node.dataFlag(), o.DataDir)
	b.WriteString("\n[Install]\nWantedBy=multi-user.target\n")
}

// EnvFile returns the settings file of role: ORBIS_ARGS, the flags the
// unit passes to `orbis central|node`.
func EnvFile(role Role, args []string) string {
	return fmt.Sprintf(`# Settings of %s, written by `+"`orbis install %s`"+`.
# ORBIS_ARGS: flags of `+"`orbis %s`"+` (see `+"`orbis %s -h`"+`), separated by
# spaces; no value may hold spaces, quotes, $, %% or backslashes.
# Apply a change with: systemctl restart %s
ORBIS_ARGS=%s
`, role.UnitName(), role, role, role, role.UnitName(), strings.Join(args, " "))
}

// CheckArgs refuses flags the settings file cannot carry (systemd splits
// $ORBIS_ARGS at spaces and would interpret quotes, $ and backslashes)
// and the data directory flag, which install owns.
func CheckArgs(role Role, args []string) error {
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\r\n\"'\\$%`") || strings.ContainsFunc(a, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("flag %q: a flag of the service may not be empty or hold spaces, quotes, $, %%, backslashes or control characters", a)
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && "--"+name == role.dataFlag() {
			return fmt.Errorf("flag %s: give the directory to orbis install's --data", a)
		}
	}
	return nil
}

// lowPort reports whether central's flags make it listen on a port below
// 1024: the value of its last --addr flag.
func lowPort(args []string) bool {
	addr := ""
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "addr" {
			continue
		}
		if !hasVal && i+1 < len(args) {
			val = args[i+1]
		}
		addr = val
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	p, err := strconv.Atoi(port)
	return err == nil && p > 0 && p < 1024
}
