package admin

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestActionLogRotates: the log never holds more than twice its bound,
// and keeps the newest actions.
func TestActionLogRotates(t *testing.T) {
	dir := t.TempDir()
	l := newActionLog(filepath.Join(dir, ActionsFile))
	l.max = 4096
	for i := range 500 {
		if err := l.append(Action{Time: time.Unix(int64(i), 0), Op: "ps", Result: "ok", Note: strings.Repeat("x", 20)}); err != nil {
			t.Fatal(err)
		}
	}
	acts, err := ReadActions(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) == 0 || len(acts)*100 > 2*4096 || acts[len(acts)-1].Time.Unix() != 499 {
		t.Errorf("%d actions kept, last %v", len(acts), acts[len(acts)-1].Time)
	}
	for i := 1; i < len(acts); i++ {
		if acts[i].Time.Unix() != acts[i-1].Time.Unix()+1 {
			t.Fatalf("actions out of order at %d", i)
		}
	}
}

// TestActionLogForgery: what a caller chooses (a watch filter, a signal
// name, a rate), and what an older or edited log holds, never forges a
// line or an escape sequence in `orbis admin log`.
func TestActionLogForgery(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Config{Authorize: func(uint32) (string, bool) { return "", false }, StateDir: dir,
		ProcRoot: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	forged := "\n2026-01-01 00:00:00  (host)  0  1  kill  pid 1  ok\x1b[2J\r\t"
	s.record(Caller{HostUID: 3_900_000_000, PID: 7, UID: -1}, "watch", "tcp"+forged+strings.Repeat("x", 4096),
		errors.New("bad filter"+forged))
	acts, err := ReadActions(dir)
	if err != nil || len(acts) != 1 {
		t.Fatalf("%d actions, %v", len(acts), err)
	}
	if n := len(acts[0].Note); n > maxNote {
		t.Errorf("note of %d bytes kept (max %d)", n, maxNote)
	}
	acts = append(acts, Action{Op: "ps" + forged, Note: forged, Result: forged}) // as an older node wrote it
	var out bytes.Buffer
	if err := WriteActions(&out, acts); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(out.String(), "\n"); lines != 3 || strings.ContainsAny(out.String(), "\x1b\r\t") {
		t.Errorf("log of 2 actions printed as %d lines:\n%q", lines, out.String())
	}
}

// TestActionLogNotFlushed: 20,000 calls of ps by an admin slice (from
// many of its UIDs) and 20,000 refused calls (by a slice without the
// privilege and by host users) leave the admin's earlier kill in the log;
// the calls are counted, not written one by one.
func TestActionLogNotFlushed(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Config{Authorize: func(uint32) (string, bool) { return "", false }, StateDir: dir,
		ProcRoot: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { now = now.Add(time.Millisecond); return now }
	admin := Caller{Slice: "pl_adm", HostUID: 3_900_000_000, UID: 0, PID: 10}
	s.record(admin, "kill", "pid 77 (slice \"pl_victim\": loop) signal KILL", nil)
	refused := errors.New("slice pl_other does not have the admin privilege")
	for i := range 20_000 {
		ps := admin
		ps.HostUID += uint32(i % 65536)
		s.record(ps, "ps", "300 processes", nil)
		switch i % 3 {
		case 0:
			s.record(Caller{Slice: "pl_other", HostUID: 3_900_100_000 + uint32(i), PID: 11}, "kill", "pid 1 signal KILL", refused)
		case 1:
			s.record(Caller{HostUID: 65534, PID: 12}, "bwcap set", "rate 1kbit", errors.New("host UID 65534 belongs to no slice"))
		default:
			s.record(admin, "kill", "pid 1 signal KILL", errors.New("pid 1 is the node's init: refused"))
		}
	}
	s.flushCalls(now.Add(CallLogEvery))
	acts, err := ReadActions(dir)
	if err != nil {
		t.Fatal(err)
	}
	var kills, lines, counted int
	for _, a := range acts {
		if a.Op == "kill" && a.Result == "ok" && strings.Contains(a.Note, "pid 77") {
			kills++
		}
		lines++
		counted += max(a.Count, 1)
	}
	if kills != 1 {
		t.Errorf("the admin's kill is not in the log after 40,000 other calls (%d lines kept)", lines)
	}
	if lines > 100 || counted != 40_001 {
		t.Errorf("%d lines stand for %d calls; want at most 100 lines, for 40,001 calls", lines, counted)
	}
	var out bytes.Buffer
	WriteActions(&out, acts)
	if !strings.Contains(out.String(), "calls like this one, not logged one by one") {
		t.Errorf("orbis admin log does not say calls were counted:\n%s", out.String())
	}
}
