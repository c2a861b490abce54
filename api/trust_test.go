package api

import (
	"errors"
	"strings"
	"testing"
)

// TestJoinToken: a token carries the CA hash after a dot; a token without
// one is the secret alone; a malformed hash is refused.
func TestJoinToken(t *testing.T) {
	hash := CAHashPrefix + strings.Repeat("ab", 32)
	tests := []struct {
		tok, secret, hash string
		bad               bool
	}{
		{JoinToken("s3cret", hash), "s3cret", hash, false},
		{JoinToken("s3cret", ""), "s3cret", "", false},
		{"s3cret." + strings.ToUpper(strings.Repeat("ab", 32)), "s3cret", hash, false},
		{"s3cret.abc", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.tok, func(t *testing.T) {
			s, h, err := SplitJoinToken(tt.tok)
			if (err != nil) != tt.bad || s != tt.secret || h != tt.hash {
				t.Errorf("SplitJoinToken(%q) = %q, %q, %v; want %q, %q, bad %v", tt.tok, s, h, err, tt.secret, tt.hash, tt.bad)
			}
		})
	}
}

// TestCheckURL: HTTPS needs something to verify by; plain HTTP is for
// loopback unless allowed.
func TestCheckURL(t *testing.T) {
	hash := CAHashPrefix + strings.Repeat("cd", 32)
	tests := []struct {
		trust Trust
		url   string
		ok    bool
	}{
		{Trust{CAHash: hash}, "https://plc.example.org", true},
		{Trust{}, "https://plc.example.org", false},
		{Trust{TOFU: true}, "https://plc.example.org", true},
		{Trust{System: true}, "https://plc.example.org", true},
		{Trust{}, "http://127.0.0.1:8780", true},
		{Trust{}, "http://[::1]:8780", true},
		{Trust{}, "http://localhost:8780", true},
		{Trust{}, "http://10.0.0.1:8780", false},
		{Trust{InsecureHTTP: true}, "http://10.0.0.1:8780", true},
		{Trust{}, "ftp://x", false},
	}
	for _, tt := range tests {
		v, err := NewVerifier(tt.trust)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.CheckURL(tt.url); (err == nil) != tt.ok {
			t.Errorf("%+v CheckURL(%s) = %v, want ok %v", tt.trust, tt.url, err, tt.ok)
		}
	}
	v, _ := NewVerifier(Trust{})
	if err := v.CheckURL("https://x"); !errors.Is(err, ErrNoTrust) {
		t.Errorf("https without trust: %v, want ErrNoTrust", err)
	}
	if _, err := NewVerifier(Trust{CAHash: "md5:00"}); err == nil {
		t.Error("a malformed CA hash was accepted")
	}
}
