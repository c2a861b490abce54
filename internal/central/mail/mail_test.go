package mail

import (
	"log/slog"
	"strings"
	"testing"
)

// TestCompose: a subject or body carrying line breaks adds no header,
// and every line ends in CRLF.
func TestCompose(t *testing.T) {
	m, err := New(Config{Addr: "127.0.0.1:25", From: "Orbis <orbis@example.org>"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	b := string(m.compose(Message{To: []string{"a@example.org"}, Subject: "x\r\nBcc: evil@example.org", Body: "one\ntwo\r\nthree"}))
	head, body, ok := strings.Cut(b, "\r\n\r\n")
	if !ok || strings.Contains(head, "\r\nBcc:") || strings.Contains(strings.ReplaceAll(b, "\r\n", ""), "\n") {
		t.Fatalf("composed mail:\n%q", b)
	}
	if body != "one\r\ntwo\r\nthree\r\n" {
		t.Fatalf("body %q", body)
	}
}

// TestNewRefuses: a bad relay address or sender is refused at start.
func TestNewRefuses(t *testing.T) {
	for _, c := range []Config{{Addr: "relay.example.org"}, {Addr: "relay:25", From: "not an address"}} {
		if _, err := New(c, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}
