// Package sshgw is the node's SSH gateway, the paper's vsh (section
// 4.1.2): `ssh <slice>@<node>` authenticates with the public keys of the
// slice's users and lands inside that slice's sliver as its limited root,
// with no other account on the node. It serves login shells with a pty,
// single commands with their exit status, and the sftp subsystem (which
// OpenSSH's scp uses too) by running the image's own sftp-server inside the
// sliver. Window changes and signals pass through; a client that goes away
// takes its session's process group with it.
//
// The gateway never reveals which slices exist: a wrong key, an unknown
// slice and a stopped one get the same refusal after the same delay, and
// only after the client has proved it holds the private key it offers, so
// that a public key alone cannot be used to probe which slices take it.
// Everything a client can fill is bounded, and shared fairly (Limits):
// connections still logging in, by source address and in all, with a
// deadline; authenticated connections and sessions, by slice and in all;
// authentication attempts, sessions per connection, requests per session;
// channel data is bounded by the SSH window. A slice's connection carries
// the slice's mark (Config.Mark), so that its traffic is shaped, counted
// and audited as the slice's, like its slivers' own.
// Forwarding of any kind is refused: slivers share the node's network, and
// a connection opened by the gateway would be the node's, not the slice's.
package sshgw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/orbisproject/orbis/internal/sandbox"
)

// Slivers is what the gateway needs from the node's sliver runtime.
type Slivers interface {
	// AuthorizedKeys returns the authorized_keys lines of the users who may
	// log into the sliver name, or an error if nobody may: no such sliver,
	// or one that is stopped.
	AuthorizedKeys(name string) ([]string, error)
	// Exec runs cmd in the sliver as cmd.UID, starting the sliver's init if
	// it is idle. ctx bounds the start only.
	Exec(ctx context.Context, name string, cmd sandbox.Cmd) (Process, error)
}

// Process is a command running in a sliver. The command leads a process
// group of its own.
type Process interface {
	// Wait waits for the command to exit and its output to be copied, and
	// returns its exit code (128+n if killed by signal n).
	Wait() (int, error)
	// SignalGroup sends sig to the command's process group, while the
	// command has not exited.
	SignalGroup(sig syscall.Signal) error
	// Terminal returns the master of the command's terminal, if it was
	// started with one (sandbox.Cmd.Terminal).
	Terminal() *os.File
}

// Config configures a Server.
type Config struct {
	// Addr is where ListenAndServe listens, e.g. ":22" on a production
	// node or "127.0.0.1:2222" for development.
	Addr string
	// HostKeyPath is the file of the gateway's ed25519 host key, made on
	// first start (mode 0600) and kept across restarts.
	HostKeyPath string
	// Slivers runs logins and commands.
	Slivers Slivers
	// Mark, if set, gives the SO_MARK put on the connection of a client
	// that logged into slice, before it is told so: the node's packet
	// tagger then shapes, counts and audits the connection's traffic as
	// the slice's (netfilter.SocketMark). No mark (false) refuses the
	// login, since its traffic would escape the slice's limits.
	Mark func(slice string) (uint32, bool)
	// Log receives one record per login and per refused one.
	Log *slog.Logger
	// Limits bound what clients can hold; zero fields take the defaults.
	Limits
	// KeepAlive is the interval of keepalive probes to the client; a
	// client that answers none of three in a row is dropped (default 30s).
	KeepAlive time.Duration
	// RefusalDelay is the least time a refused key takes to answer, so
	// that the time does not tell an unknown slice from a known one
	// (default 10ms).
	RefusalDelay time.Duration
}

// Limits bound the connections and sessions that clients can hold, so
// that no source address and no slice can lock out another (see
// admission for the rules). Zero fields take the defaults in
// DefaultLimits.
type Limits struct {
	// MaxHandshakes bounds the connections that have not authenticated
	// yet, MaxHandshakesPerSource those from one source address (an IPv6
	// /64).
	MaxHandshakes, MaxHandshakesPerSource int
	// HandshakeTimeout bounds the time from accept to authenticated.
	HandshakeTimeout time.Duration
	// MaxAuthTries bounds failed authentication attempts per connection.
	MaxAuthTries int
	// MaxConns bounds authenticated connections, MaxConnsPerSlice those
	// of one slice.
	MaxConns, MaxConnsPerSlice int
	// MaxSessions bounds open sessions per connection,
	// MaxSessionsPerSlice those of one slice over all its connections.
	MaxSessions, MaxSessionsPerSlice int
	// IdleTimeout closes a connection with no open session for that long.
	IdleTimeout time.Duration
}

// DefaultLimits are the limits a zero field takes.
var DefaultLimits = Limits{
	MaxHandshakes: 64, MaxHandshakesPerSource: 8, HandshakeTimeout: 15 * time.Second, MaxAuthTries: 6,
	MaxConns: 256, MaxConnsPerSlice: 32, MaxSessions: 10, MaxSessionsPerSlice: 64, IdleTimeout: 10 * time.Minute,
}

// validate refuses negative limits (zero means the default).
func (l Limits) validate() error {
	for name, v := range map[string]int64{"max handshakes": int64(l.MaxHandshakes), "max handshakes per source": int64(l.MaxHandshakesPerSource),
		"handshake timeout": int64(l.HandshakeTimeout), "max auth tries": int64(l.MaxAuthTries), "max conns": int64(l.MaxConns),
		"max conns per slice": int64(l.MaxConnsPerSlice), "max sessions": int64(l.MaxSessions),
		"max sessions per slice": int64(l.MaxSessionsPerSlice), "idle timeout": int64(l.IdleTimeout)} {
		if v < 0 {
			return fmt.Errorf("ssh gateway: %s is negative", name)
		}
	}
	return nil
}

func (c *Config) defaults() {
	d := DefaultLimits
	setDefault(&c.MaxHandshakes, d.MaxHandshakes)
	setDefault(&c.MaxHandshakesPerSource, d.MaxHandshakesPerSource)
	setDefault(&c.HandshakeTimeout, d.HandshakeTimeout)
	setDefault(&c.MaxAuthTries, d.MaxAuthTries)
	setDefault(&c.MaxConns, d.MaxConns)
	setDefault(&c.MaxConnsPerSlice, d.MaxConnsPerSlice)
	setDefault(&c.MaxSessions, d.MaxSessions)
	setDefault(&c.MaxSessionsPerSlice, d.MaxSessionsPerSlice)
	setDefault(&c.IdleTimeout, d.IdleTimeout)
	setDefault(&c.KeepAlive, 30*time.Second)
	setDefault(&c.RefusalDelay, 10*time.Millisecond)
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Refusal is the one message every refused login gets, whatever the reason.
const Refusal = "orbis: permission denied: no slice of that name on this node accepts this key, or it is not running\n"

// ErrNoSubsystem is the message a client gets for an sftp request when the
// sliver's image has no sftp-server.
var ErrNoSubsystem = errors.New("orbis: this sliver's image has no sftp-server (install openssh-sftp-server in the sliver)")

// errRefused is what the authentication callback returns; the client only
// sees Refusal.
var errRefused = errors.New("refused")

// Server is an SSH gateway.
type Server struct {
	cfg     Config
	hostKey ssh.Signer
	adm     *admission
}

// New returns a Server, loading its host key or making one.
func New(cfg Config) (*Server, error) {
	if err := cfg.Limits.validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	if cfg.Slivers == nil {
		return nil, errors.New("ssh gateway: no sliver runtime")
	}
	signer, err := loadHostKey(cfg.HostKeyPath)
	if err != nil {
		return nil, fmt.Errorf("ssh gateway: %w", err)
	}
	return &Server{
		cfg:     cfg,
		hostKey: signer,
		adm:     newAdmission(cfg.Limits, cfg.Log),
	}, nil
}
