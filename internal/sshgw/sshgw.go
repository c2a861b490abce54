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
// Everything a client can fill is bounded: connections, connections still
// in their handshake, authentication attempts, sessions per connection,
// requests per session; channel data is bounded by the SSH window.
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

// Config configures a Server. Zero limits take the defaults below.
type Config struct {
	// Addr is where ListenAndServe listens, e.g. ":22" on a production
	// node or "127.0.0.1:2222" for development.
	Addr string
	// HostKeyPath is the file of the gateway's ed25519 host key, made on
	// first start (mode 0600) and kept across restarts.
	HostKeyPath string
	// Slivers runs logins and commands.
	Slivers Slivers
	// Log receives one record per login and per refused one.
	Log *slog.Logger

	// MaxConns bounds open connections (default 256); MaxHandshakes
	// bounds those not yet authenticated (default 32). Connections beyond
	// either are closed at once.
	MaxConns, MaxHandshakes int
	// MaxAuthTries bounds failed authentication attempts per connection
	// (default 6).
	MaxAuthTries int
	// MaxSessions bounds open sessions per connection (default 10).
	MaxSessions int
	// HandshakeTimeout bounds the time from accept to authenticated
	// (default 30s).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection with no open session for that long
	// (default 10m).
	IdleTimeout time.Duration
	// KeepAlive is the interval of keepalive probes to the client; a
	// client that answers none of three in a row is dropped (default 30s).
	KeepAlive time.Duration
	// RefusalDelay is the least time a refused key takes to answer, so
	// that the time does not tell an unknown slice from a known one
	// (default 10ms).
	RefusalDelay time.Duration
}

func (c *Config) defaults() {
	setDefault(&c.MaxConns, 256)
	setDefault(&c.MaxHandshakes, 32)
	setDefault(&c.MaxAuthTries, 6)
	setDefault(&c.MaxSessions, 10)
	setDefault(&c.HandshakeTimeout, 30*time.Second)
	setDefault(&c.IdleTimeout, 10*time.Minute)
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
	conns   chan struct{}
	shakes  chan struct{}
}

// New returns a Server, loading its host key or making one.
func New(cfg Config) (*Server, error) {
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
		conns:   make(chan struct{}, cfg.MaxConns),
		shakes:  make(chan struct{}, cfg.MaxHandshakes),
	}, nil
}
