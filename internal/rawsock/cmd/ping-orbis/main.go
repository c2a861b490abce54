// Command ping-orbis is ping and traceroute for an unprivileged user in a
// sliver, over the node's safe raw socket service (api/rawsock). It is
// not part of the orbis binary: slivers never run the host's binaries.
// The image builder compiles it statically (CGO_ENABLED=0 go build) and
// installs it in reference images as /usr/bin/ping, with
// /usr/bin/traceroute a link to it: called as traceroute (or with -t) it
// traces the route.
//
//	ping-orbis [-c count] [-i interval] [-W timeout] [-S socket] host
//	traceroute [-m max-hops] [-W timeout] [-S socket] host
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api/rawsock"
)

func main() {
	trace := strings.HasPrefix(filepath.Base(os.Args[0]), "traceroute")
	flag.BoolVar(&trace, "t", trace, "trace the route instead of pinging")
	count := flag.Int("c", 4, "echo requests to send (ping)")
	hops := flag.Int("m", 30, "maximum number of hops (traceroute)")
	tools := rawsock.Tools{}
	tools.Interval, tools.Timeout = time.Second, 2*time.Second
	flag.Var((*seconds)(&tools.Interval), "i", "seconds between echo requests (like ping: 0.2), or a duration (200ms)")
	flag.Var((*seconds)(&tools.Timeout), "W", "seconds to wait for each answer, or a duration")
	flag.StringVar(&tools.Path, "S", rawsock.DefaultPath, "the raw socket service's socket")
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, tools, flag.Arg(0), trace, *count, *hops); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, tools rawsock.Tools, host string, trace bool, count, hops int) error {
	addr, err := resolve(ctx, host)
	if err != nil {
		return err
	}
	if trace {
		fmt.Printf("traceroute to %s (%s), %d hops max\n", host, addr, hops)
		tools.Each = func(r rawsock.Reply) {
			if !r.From.IsValid() {
				fmt.Printf("%2d  *\n", r.Seq)
				return
			}
			fmt.Printf("%2d  %s  %.3f ms\n", r.Seq, r.From, ms(r.RTT))
		}
		_, err = tools.Traceroute(ctx, addr, hops)
		return err
	}
	fmt.Printf("PING %s (%s)\n", host, addr)
	tools.Each = func(r rawsock.Reply) {
		fmt.Printf("reply from %s: seq=%d ttl=%d time=%.3f ms\n", r.From, r.Seq, r.TTL, ms(r.RTT))
	}
	replies, err := tools.Ping(ctx, addr, count)
	fmt.Printf("--- %s ping statistics ---\n%d transmitted, %d received\n", host, count, len(replies))
	if err == nil && len(replies) == 0 {
		err = fmt.Errorf("no reply from %s", addr)
	}
	return err
}

func resolve(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("resolve %s: %v", host, err)
	}
	return addrs[0].Unmap(), nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// seconds is a duration flag that takes ping's plain seconds ("0.2") as
// well as Go durations ("200ms").
type seconds time.Duration

func (s *seconds) String() string { return time.Duration(*s).String() }

func (s *seconds) Set(v string) error {
	if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
		*s = seconds(f * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("want seconds (0.2) or a duration (200ms)")
	}
	*s = seconds(d)
	return nil
}
