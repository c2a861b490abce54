package verbs

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/admin"
	"github.com/orbisproject/orbis/internal/cli"
	"github.com/orbisproject/orbis/internal/disk"
	"github.com/orbisproject/orbis/internal/node"
	"github.com/orbisproject/orbis/internal/nodemgr"
	"github.com/orbisproject/orbis/internal/portmgr"
	"github.com/orbisproject/orbis/internal/rawfd"
	"github.com/orbisproject/orbis/internal/rawsock"
	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/sensor"
	"github.com/orbisproject/orbis/internal/sshgw"
)

func nodeFlags(name string, stderr io.Writer) (*flag.FlagSet, *node.Config, *bool) {
	fs := flag.NewFlagSet("orbis "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &node.Config{}
	fs.StringVar(&cfg.StateDir, "state", "/var/lib/orbis", "state directory")
	fs.StringVar(&cfg.NMSocket, "nm-socket", api.NMSocket, "node manager socket")
	fs.StringVar(&cfg.DefaultImage, "image", "busybox", "default reference image of new slivers")
	fs.StringVar(&cfg.CgroupParent, "cgroup-parent", "orbis", "the node's top cgroup; slivers are below it")
	fs.DurationVar(&cfg.InitLinger, "init-linger", node.DefaultInitLinger, fmt.Sprintf("how long a running sliver's init with no command left waits for another before the sliver goes idle (0 to %v): a command soon after, such as orbis sliver exec after the boot script, then needs no new init", sandbox.MaxLinger))
	if name == "node" {
		fs.StringVar(&cfg.SSHAddr, "ssh-addr", node.DefaultSSHAddr, `SSH gateway address (":22" on a production node; "" disables it)`)
		sshLimitFlags(fs, &cfg.SSHLimits)
		fs.StringVar(&cfg.SensorAddr, "sensor-addr", node.DefaultSensorAddr, `sensor server address ("" disables it)`)
		fs.IntVar(&cfg.SensorConns, "sensor-conns", sensor.DefaultMaxConns, "sensor server: most connections open at once (the host's root is not counted)")
		fs.IntVar(&cfg.SensorConnsPerClient, "sensor-conns-per-client", sensor.DefaultMaxConnsPerClient, "sensor server: most connections of one client (a slice, a host user, a remote address) at once; more are closed at accept")
		fs.StringVar(&cfg.AuditAddr, "audit-addr", node.DefaultAuditAddr, `traffic auditor's pages (":80" on a production node; "" disables them)`)
		fs.StringVar(&cfg.Uplink, "uplink", "", `interface to shape (default: the default route's; "none": no shaping)`)
		sniffGroupFlag(fs, &cfg.SniffGroup)
		fs.StringVar(&cfg.PortScope, "port-scope", "machine", `who meets reserved ports: "machine" (every process) or "node" (this node's slivers only: several nodes on one machine)`)
		fs.StringVar(&cfg.Central, "central", "", "central's URL, e.g. https://plc.example.org:8780 (needed once, with --token)")
		fs.StringVar(&cfg.Token, "token", "", "one-time registration token from central (`orbis nodes token HOST`); it carries central's CA fingerprint, which the node pins")
		fs.StringVar(&cfg.CA, "ca", "", `central's CA certificate (PEM file) for a token without a CA fingerprint; "system": central's certificate is from a CA the system trusts`)
		fs.BoolVar(&cfg.InsecureHTTP, "insecure-http", false, "allow a plain http:// central that is not loopback: the node's secret and sliver list cross the network in clear")
		fs.StringVar(&cfg.Hostname, "hostname", "", "host name to register as (default: this machine's)")
		fs.StringVar(&cfg.IP, "ip", "", "IP address to register (default: none)")
		uintVar(fs, &cfg.UIDBase, "uid-base", "first host UID of slice ranges (0: 100000)")
		uintVar(fs, &cfg.UIDRanges, "uid-ranges", "how many slice UID ranges of 65536 to hand out (0: all that fit)")
		fs.StringVar(&cfg.PolicyPath, "policy", nodemgr.DefaultPolicyPath, `local policy file (bandwidth cap, max slivers, brokers' shares; "" for none): read at start and on SIGHUP only (edit it, then kill -HUP the agent)`)
		rawsockFlags(fs, &cfg.RawSock)
		fs.IntVar(&cfg.RawSocketsPerSlice, "raw-sockets-per-slice", rawfd.DefaultMaxPerSlice,
			"raw and receive-only packet sockets one sliver may hold through socket(2), confined by the kernel (-1: none; slivers then use the raw socket service only)")
		fs.IntVar(&cfg.RawSocketCallsPerSec, "raw-socket-calls-per-sec", rawfd.DefaultCallsPerSec,
			"raw socket() calls of one sliver the agent answers a second, after a burst of as many; a caller past it waits")
		fs.IntVar(&cfg.PacketSocketsPerSlice, "packet-sockets-per-slice", rawfd.DefaultMaxPacketPerSlice,
			"receive-only packet sockets one sliver may hold, counted within --raw-sockets-per-slice (each one's filter runs on every frame of the node)")
		mibVar(fs, &cfg.PacketRingMax, "packet-ring-max-mib", fmt.Sprintf("MiB of the receive rings (PACKET_RX_RING) of all the live packet sockets of one sliver together, memory the kernel does not charge to the slice (default %d)", rawfd.DefaultMaxPacketRing>>20))
		fs.IntVar(&cfg.MaxSocketsPerSlice, "max-sockets-per-slice", portmgr.DefaultMaxSockets,
			"most TCP, UDP and other IPv4/IPv6 sockets one sliver may hold at once (accepted connections not counted), and so most ports: one slice cannot take the ephemeral range (ip_local_port_range) from the others and the node")
		mibVar(fs, &cfg.Disk.ImageSize, "disk-image-size", fmt.Sprintf("MiB of a new btrfs image for slivers' files (when the state disk has no project quotas), allocated at once and grown as they fill it (default %d)", disk.DefaultImageSize>>20))
		mibVar(fs, &cfg.Disk.Reserve, "disk-reserve", fmt.Sprintf("MiB the state disk keeps free: the slivers' image does not grow into it, and below it the node takes no new sliver (default %d)", disk.DefaultReserve>>20))
		fs.DurationVar(&cfg.AdminLogRetention, "admin-log-retention", admin.DefaultActionsRetention, "how long the admin service keeps every kill and cap change an admin slice made, whatever their number")
		fs.IntVar(&cfg.AdminActionsPerMinute, "admin-actions-per-minute", admin.DefaultMaxActionsPerMinute, "most kills and cap changes of one admin slice a minute (more are refused); with the retention, bounds the admin action log")
		fs.DurationVar(&cfg.UpgradeCheck, "upgrade-check", node.DefaultUpgradeCheck, "how long to wait before asking central for a node agent upgrade (orbis nodes upgrade) again after a failed call, or between calls to a central that does not hold them (a current central holds the call and answers as soon as a build is published)")
		fs.DurationVar(&cfg.UpgradeHealthTimeout, "upgrade-health-timeout", node.DefaultUpgradeHealthTimeout, "how long an upgraded agent has to reach central and answer on the node manager socket before the previous one is put back")
		fs.BoolVar(&cfg.NoUpgrade, "no-upgrade", false, "never upgrade this agent from central")
		fs.BoolVar(&cfg.SuspendOnExit, "suspend-on-exit", false, "stop every sliver and remove its cgroups when the agent exits (leaves nothing in the kernel)")
	}
	debug := fs.Bool("debug", false, "log debug records")
	return fs, cfg, debug
}

// sniffGroupFlag defines --sniff-group, the NFLOG group of the node's
// administrative sniffer (node.Config.SniffGroup), for `orbis node` and
// `orbis dev`.
func sniffGroupFlag(fs *flag.FlagSet, p *uint16) {
	fs.Func("sniff-group", fmt.Sprintf("NFLOG group of the administrative sniffer, 1-65535 (default %d; nodes sharing a network namespace need different ones)", node.DefaultSniffGroup), func(v string) error {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil || n == 0 {
			return fmt.Errorf("want a group from 1 to 65535, not %q", v)
		}
		*p = uint16(n)
		return nil
	})
}

// rawsockFlags defines the flags of the raw socket service's bounds.
func rawsockFlags(fs *flag.FlagSet, l *rawsock.Limits) {
	fs.IntVar(&l.MaxConns, "rawsock-max-conns", rawsock.DefaultMaxConns,
		"raw socket service: connections held at a time, all slices together (lowered to fit half of RLIMIT_NOFILE)")
	fs.IntVar(&l.MaxConnsPerSlice, "rawsock-max-conns-per-slice", rawsock.DefaultMaxConnsPerSlice,
		"raw socket service: connections one slice may hold at a time")
	fs.IntVar(&l.MaxBindingsPerSlice, "rawsock-max-bindings-per-slice", rawsock.DefaultMaxBindingsPerSlice,
		"raw socket service: bound raw and sniffer sockets one slice may hold at a time")
	fs.IntVar(&l.QueueLen, "rawsock-queue-packets", rawsock.DefaultQueueLen,
		"raw socket service: received packets queued per socket for a sliver that has not read them")
	fs.IntVar(&l.QueueBytes, "rawsock-queue-bytes", rawsock.DefaultQueueBytes,
		"raw socket service: bytes of received packets queued per socket")
}

// sshLimitFlags defines the flags of the SSH gateway's limits, with the
// defaults as their values.
func sshLimitFlags(fs *flag.FlagSet, l *sshgw.Limits) {
	d := sshgw.DefaultLimits
	fs.IntVar(&l.MaxHandshakes, "ssh-max-logins", d.MaxHandshakes, "SSH connections still logging in (not authenticated), from all addresses; when full, an address with fewer takes the oldest of the address with the most")
	fs.IntVar(&l.MaxHandshakesPerSource, "ssh-max-logins-per-addr", d.MaxHandshakesPerSource, "SSH connections still logging in from one address (IPv6: one /64)")
	fs.DurationVar(&l.HandshakeTimeout, "ssh-login-timeout", d.HandshakeTimeout, "time from connecting to authenticated, after which an SSH connection is closed")
	fs.IntVar(&l.MaxAuthTries, "ssh-max-auth-tries", d.MaxAuthTries, "failed key attempts per SSH connection")
	fs.IntVar(&l.MaxConns, "ssh-max-conns", d.MaxConns, "authenticated SSH connections, all slices; when full, a slice with fewer takes the oldest of the slice with the most")
	fs.IntVar(&l.MaxConnsPerSlice, "ssh-max-conns-per-slice", d.MaxConnsPerSlice, "authenticated SSH connections of one slice")
	fs.IntVar(&l.MaxSessions, "ssh-max-sessions", d.MaxSessions, "sessions (shells, commands, sftp) per SSH connection")
	fs.IntVar(&l.MaxSessionsPerSlice, "ssh-max-sessions-per-slice", d.MaxSessionsPerSlice, "sessions of one slice over all its SSH connections")
	fs.DurationVar(&l.IdleTimeout, "ssh-idle-timeout", d.IdleTimeout, "time after which an SSH connection with no session is closed")
}

// uintVar defines a flag for a uint32 field.
func uintVar(fs *flag.FlagSet, p *uint32, name, usage string) {
	fs.Func(name, usage, func(v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		*p = uint32(n)
		return err
	})
}

// logger writes text records to w from level quiet up, or from debug up
// with --debug.
func logger(w io.Writer, debug bool, quiet slog.Level) *slog.Logger {
	lvl := quiet
	if debug {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}

func runNode(ctx context.Context, env *cli.Env, args []string) error {
	if len(args) > 0 && args[0] == "bwcap" {
		return runBwcap(ctx, env, args[1:])
	}
	fs, cfg, debug := nodeFlags("node", env.Stderr)
	profile := fs.String("cpu-profile", "", "write a CPU profile of the agent to this new file until it exits (for `go tool pprof`)")
	if err := fs.Parse(args); err != nil {
		return &cli.UsageError{Msg: err.Error()}
	}
	if os.Geteuid() != 0 {
		return errors.New("the node agent runs as root")
	}
	cfg.Log = logger(env.Stderr, *debug, slog.LevelInfo)
	cfg.Version = cli.Version
	stop, err := startCPUProfile(*profile)
	if err != nil {
		return err
	}
	return errors.Join(node.Run(ctx, *cfg), stop())
}

// sliverUsage is the usage of `orbis sliver`.
const sliverUsage = `usage: orbis sliver exec [--state DIR] NAME -- CMD [ARGS...]
       orbis sliver run [--rspec JSON] [--state DIR] NAME -- CMD [ARGS...]`

// runSliver is `orbis sliver exec NAME -- CMD [ARGS]`: it runs a command as
// the sliver's root, with this terminal's standard streams, and exits with
// the command's status. `orbis sliver run` first makes the sliver
// (runSliverRun).
func runSliver(ctx context.Context, env *cli.Env, args []string) error {
	if len(args) == 0 || (args[0] != "exec" && args[0] != "run") {
		return &cli.UsageError{Msg: sliverUsage}
	}
	fs, cfg, debug := nodeFlags("sliver "+args[0], env.Stderr)
	rspec := ""
	if args[0] == "run" {
		fs.StringVar(&rspec, "rspec", `{"cpu_shares":1}`, "the resources to acquire, as for `orbis nm acquire` (create_sliver is added)")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return &cli.UsageError{Msg: err.Error()}
	}
	rest := fs.Args()
	if len(rest) < 2 || (rest[1] == "--" && len(rest) < 3) {
		return &cli.UsageError{Msg: sliverUsage}
	}
	name, cmdArgs := rest[0], rest[1:]
	if cmdArgs[0] == "--" {
		cmdArgs = cmdArgs[1:]
	}
	cfg.Log = logger(env.Stderr, *debug, slog.LevelWarn)
	if args[0] == "run" {
		if err := makeSliver(ctx, env, cfg.NMSocket, name, rspec); err != nil {
			return err
		}
	}
	n, err := node.Open(ctx, *cfg)
	if err != nil {
		return err
	}
	defer n.Close()
	if err := n.Slivers.Revive(ctx, name); err != nil {
		return err
	}
	p, err := n.Slivers.Exec(ctx, name, sandbox.Cmd{Args: cmdArgs, Stdin: env.Stdin, Stdout: env.Stdout, Stderr: env.Stderr})
	if err != nil {
		return err
	}
	code, err := p.Wait()
	if err != nil {
		return err
	}
	if code != 0 {
		return &cli.ExitError{Code: code}
	}
	return nil
}

// mibVar defines a flag in MiB for a field in bytes.
func mibVar(fs *flag.FlagSet, p *int64, name, usage string) {
	fs.Func(name, usage, func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n > 1<<40 {
			return fmt.Errorf("want a positive number of MiB, not %q", v)
		}
		*p = n << 20
		return nil
	})
}
