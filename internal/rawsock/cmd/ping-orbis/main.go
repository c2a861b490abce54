// Command ping-orbis is ping and traceroute for an unprivileged user in a
// sliver, over the node's safe raw socket service (api/rawsock). It is
// not part of the orbis binary: slivers never run the host's binaries.
// The image builder compiles it statically (CGO_ENABLED=0 go build) and
// installs it in reference images as /usr/bin/ping, with
// /usr/bin/traceroute a link to it: called as traceroute (or with -t) it
// traces the route.
//
// It takes the option syntax of iputils' ping and traceroute (see usage).
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api/rawsock"
)

func main() {
	trace := strings.HasPrefix(filepath.Base(os.Args[0]), "traceroute")
	o, err := parseArgs(os.Args[1:], trace)
	if errors.Is(err, errUsage) {
		fmt.Println(usage)
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n%s\n", filepath.Base(os.Args[0]), err, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	addr, err := resolve(ctx, o.host, o.family)
	if err != nil {
		return err
	}
	tools := rawsock.Tools{Path: o.socket, Interval: o.interval, Timeout: o.timeout}
	if o.trace {
		fmt.Printf("traceroute to %s (%s), %d hops max\n", o.host, addr, o.hops)
		tools.Each = func(r rawsock.Reply) {
			if !r.From.IsValid() {
				fmt.Printf("%2d  *\n", r.Seq)
				return
			}
			fmt.Printf("%2d  %s  %.3f ms\n", r.Seq, r.From, ms(r.RTT))
		}
		_, err = tools.Traceroute(ctx, addr, o.hops)
		return err
	}
	fmt.Printf("PING %s (%s)\n", o.host, addr)
	if !o.quiet {
		tools.Each = func(r rawsock.Reply) {
			fmt.Printf("reply from %s: seq=%d ttl=%d time=%.3f ms\n", r.From, r.Seq, r.TTL, ms(r.RTT))
		}
	}
	replies, err := tools.Ping(ctx, addr, o.count)
	fmt.Printf("--- %s ping statistics ---\n%d transmitted, %d received\n", o.host, o.count, len(replies))
	if err == nil && len(replies) == 0 {
		err = fmt.Errorf("no reply from %s", addr)
	}
	return err
}

// resolve finds host's address of family ("ip", "ip4" or "ip6"). For
// "ip" it prefers an IPv4 address: the node's raw socket service sends
// from the node's own addresses, which often include no IPv6 one, and
// "localhost" commonly resolves to ::1 first.
func resolve(ctx context.Context, host, family string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if (family == "ip4" && !a.Is4()) || (family == "ip6" && a.Is4()) {
			return netip.Addr{}, fmt.Errorf("%s: address of the wrong family for -%s", host, family[2:])
		}
		return a, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, family, host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("resolve %s: no address", host)
	}
	return preferIPv4(addrs), nil
}

// preferIPv4 returns the first IPv4 address of addrs, else the first.
func preferIPv4(addrs []netip.Addr) netip.Addr {
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap()
		}
	}
	return addrs[0].Unmap()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
