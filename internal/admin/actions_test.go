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
