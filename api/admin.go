package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// AdminSocket is where the admin service listens, as a sliver of a slice
// with Privileges.Admin sees it. Slivers without the privilege have no
// /run/orbis-admin at all.
const AdminSocket = "/run/orbis-admin/admin.sock"

// The admin service speaks HTTP+JSON on its Unix socket:
//
//	GET  /v1/ps            -> AdminPS
//	POST /v1/kill          AdminKillRequest -> AdminKillResponse
//	GET  /v1/bwcap         -> AdminBwcap
//	POST /v1/bwcap         AdminBwcapRequest -> AdminBwcap
//	GET  /v1/watch?filter= -> a stream of AdminWatchEvent, one JSON object a line
//
// Errors are AdminError bodies with status 400 (bad input), 403 (the
// caller is not an admin, or the target is protected), 404 (no such
// process), 409 (the process changed: its start time differs).

// AdminProcess is one process of the node, as `orbis-admin ps` lists it.
type AdminProcess struct {
	PID  int `json:"pid"`
	PPID int `json:"ppid"`
	// UID is the process's real user ID on the host.
	UID uint32 `json:"uid"`
	// Slice is the slice whose UID range holds UID; "" for the host's own.
	Slice string `json:"slice,omitempty"`
	// State is the kernel's one-letter state (R running, S sleeping, ...).
	State string `json:"state"`
	// CPU is the user and system CPU time used so far.
	CPU time.Duration `json:"cpu_ns"`
	// RSS is the resident memory in bytes.
	RSS int64 `json:"rss"`
	// Start is when the process started; StartTicks the same in clock
	// ticks since boot, exact: pass it to Kill so that a recycled PID is
	// never hit.
	Start      time.Time `json:"start"`
	StartTicks uint64    `json:"start_ticks"`
	// Command is the command line, truncated (the name in brackets for a
	// kernel thread).
	Command string `json:"command"`
}

// AdminPS is every process of the node.
type AdminPS struct {
	Processes []AdminProcess `json:"processes"`
}

// AdminKillRequest asks for a signal to one process.
type AdminKillRequest struct {
	PID int `json:"pid"`
	// Signal is a name ("TERM", "SIGKILL") or number; "" means TERM.
	Signal string `json:"signal,omitempty"`
	// StartTicks, when not 0, must be the process's start time as ps
	// listed it: the service refuses (409) if PID is now another process.
	StartTicks uint64 `json:"start_ticks,omitempty"`
}

// AdminKillResponse says what was signalled.
type AdminKillResponse struct {
	PID     int    `json:"pid"`
	Signal  string `json:"signal"`
	Slice   string `json:"slice,omitempty"`
	Command string `json:"command"`
}

// AdminBwcap is the node's cap on its total outgoing rate.
type AdminBwcap struct {
	// KBit is the cap recorded (kbit/s); Set is false when none is and
	// the node runs with its default, DefaultKBit.
	KBit        int64 `json:"kbit"`
	Set         bool  `json:"set"`
	DefaultKBit int64 `json:"default_kbit"`
	// AppliedKBit is the cap the node's shaper applies now; 0 when the
	// node shapes nothing (no uplink). It follows KBit within seconds.
	AppliedKBit int64 `json:"applied_kbit,omitempty"`
	// PolicyKBit is the highest cap the node's local policy allows; 0:
	// no bound.
	PolicyKBit int64 `json:"policy_kbit,omitempty"`
}

// AdminBwcapRequest sets the node's cap: Rate as tc writes it ("10mbit").
type AdminBwcapRequest struct {
	Rate string `json:"rate"`
}

// AdminPacket is one outgoing packet of the node, summarized.
type AdminPacket struct {
	Time    time.Time `json:"time"`
	Slice   string    `json:"slice,omitempty"`
	Src     string    `json:"src"`
	Dst     string    `json:"dst"`
	Proto   uint8     `json:"proto"`
	SrcPort uint16    `json:"sport,omitempty"`
	DstPort uint16    `json:"dport,omitempty"`
	// Flags are the TCP flags: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08,
	// ACK 0x10, URG 0x20.
	Flags uint8 `json:"flags,omitempty"`
	// Len is the IP packet's length in bytes.
	Len int `json:"len"`
}

// AdminWatchEvent is one line of the watch stream: a packet, or the count
// of packets this watcher lost so far because it read too slowly (sent
// when it grows) — Dropped — and those the node's capture lost
// (KernelDropped).
type AdminWatchEvent struct {
	Packet        *AdminPacket `json:"packet,omitempty"`
	Dropped       uint64       `json:"dropped,omitempty"`
	KernelDropped uint64       `json:"kernel_dropped,omitempty"`
}

// AdminError is the body of an error answer.
type AdminError struct {
	Error string `json:"error"`
}

// AdminCallError is a call the admin service answered with an error.
type AdminCallError struct {
	Status int
	Msg    string
}

func (e *AdminCallError) Error() string { return e.Msg }

// AdminClient calls the admin service over its Unix socket. It is safe for
// concurrent use.
type AdminClient struct {
	svc unixService
}

// NewAdminClient returns a client of the admin service at socket (""
// means AdminSocket).
func NewAdminClient(socket string) *AdminClient {
	if socket == "" {
		socket = AdminSocket
	}
	return &AdminClient{svc: newUnixService(socket, "admin", "http://admin/v1/", func(status int, msg string) error {
		return &AdminCallError{Status: status, Msg: msg}
	})}
}

// PS lists every process of the node.
func (c *AdminClient) PS(ctx context.Context) (AdminPS, error) {
	var out AdminPS
	err := c.do(ctx, http.MethodGet, "ps", nil, &out)
	return out, err
}

// Kill sends a signal to one process of the node.
func (c *AdminClient) Kill(ctx context.Context, req AdminKillRequest) (AdminKillResponse, error) {
	var out AdminKillResponse
	err := c.do(ctx, http.MethodPost, "kill", req, &out)
	return out, err
}

// Bwcap returns the node's cap on its outgoing rate.
func (c *AdminClient) Bwcap(ctx context.Context) (AdminBwcap, error) {
	var out AdminBwcap
	err := c.do(ctx, http.MethodGet, "bwcap", nil, &out)
	return out, err
}

// SetBwcap sets the node's cap on its outgoing rate (e.g. "10mbit").
func (c *AdminClient) SetBwcap(ctx context.Context, rate string) (AdminBwcap, error) {
	var out AdminBwcap
	err := c.do(ctx, http.MethodPost, "bwcap", AdminBwcapRequest{Rate: rate}, &out)
	return out, err
}

// Watch streams the node's outgoing packets that match filter ("": all)
// to fn until ctx ends, fn returns an error, or the service closes the
// stream. The filter is a list of terms joined by "and", "or" and "not":
// tcp, udp, icmp, slice NAME, host ADDR, src ADDR, dst ADDR, port N,
// src port N, dst port N, node (the host's own traffic).
func (c *AdminClient) Watch(ctx context.Context, filter string, fn func(AdminWatchEvent) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://admin/v1/watch?filter="+url.QueryEscape(filter), nil)
	if err != nil {
		return fmt.Errorf("admin watch: %w", err)
	}
	res, err := c.svc.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin watch: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		return c.svc.errorOf("watch", res)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		var ev AdminWatchEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("admin watch: decode: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("admin watch: %w", err)
	}
	return nil
}

func (c *AdminClient) do(ctx context.Context, method, op string, in, out any) error {
	return c.svc.call(ctx, method, op, in, out)
}
