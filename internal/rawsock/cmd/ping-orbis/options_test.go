package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api/rawsock"
)

func TestParseArgs(t *testing.T) {
	def := options{family: "ip", count: 4, hops: 30, interval: time.Second,
		timeout: 2 * time.Second, socket: rawsock.DefaultPath}
	with := func(f func(*options)) options {
		o := def
		o.host = "example.org"
		f(&o)
		return o
	}
	tests := []struct {
		args  string
		trace bool
		want  options
	}{
		{"example.org", false, with(func(o *options) {})},
		{"-c1 example.org", false, with(func(o *options) { o.count = 1 })},
		{"-c 1 example.org", false, with(func(o *options) { o.count = 1 })},
		{"example.org -c 3 -W1", false, with(func(o *options) { o.count, o.timeout = 3, time.Second })},
		{"-i0.2 -W 1.5 example.org", false, with(func(o *options) { o.interval, o.timeout = 200*time.Millisecond, 1500*time.Millisecond })},
		{"-i 200ms example.org", false, with(func(o *options) { o.interval = 200 * time.Millisecond })},
		{"-qn -4 example.org", false, with(func(o *options) { o.quiet, o.family = true, "ip4" })},
		{"-qc2 example.org", false, with(func(o *options) { o.quiet, o.count = true, 2 })},
		{"-6 example.org", false, with(func(o *options) { o.family = "ip6" })},
		{"-Sx/y.sock example.org", false, with(func(o *options) { o.socket = "x/y.sock" })},
		{"-t -m5 example.org", false, with(func(o *options) { o.trace, o.hops = true, 5 })},
		{"-n -m 2 example.org", true, with(func(o *options) { o.trace, o.hops = true, 2 })},
		{"-c1 -- example.org", false, with(func(o *options) { o.count = 1 })},
		{"-q 1 -w 3 -n example.org", true, with(func(o *options) { o.trace, o.timeout = true, 3*time.Second })},
		{"-q example.org", false, with(func(o *options) { o.quiet = true })},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			got, err := parseArgs(strings.Fields(tt.args), tt.trace)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	for _, args := range []string{
		"", "-c1", "a b", "-x a", "-c a", "-c0 a", "-c -1 a", "a -c",
		"-W0 a", "-i -1 a", "-i abc a", "-m0 a", "-q 3 a -w 1",
	} {
		t.Run(args, func(t *testing.T) {
			if o, err := parseArgs(strings.Fields(args), false); err == nil {
				t.Errorf("accepted: %+v", o)
			}
			if o, err := parseArgs(strings.Fields(args), true); err == nil {
				t.Errorf("traceroute accepted: %+v", o)
			}
		})
	}
}

func TestPreferIPv4(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")}
	if got := preferIPv4(addrs); got != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("got %v, want 127.0.0.1", got)
	}
	if got := preferIPv4(addrs[:1]); got != netip.MustParseAddr("::1") {
		t.Errorf("got %v, want ::1", got)
	}
}
