package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api/rawsock"
)

// usage is the command's synopsis, in iputils' option syntax.
const usage = `usage: ping [-46nqt] [-c count] [-i interval] [-W timeout] [-S socket] host
       traceroute [-46n] [-m max-hops] [-q 1] [-w timeout] [-S socket] host
  -4, -6       use the host's IPv4 or IPv6 address (default: IPv4 if it has one)
  -c count     echo requests to send (default 4)
  -i interval  seconds between echo requests (0.2) or a duration (200ms); default 1
  -W timeout   seconds to wait for each answer, or a duration; default 2
               (traceroute also takes -w, and -q with one probe per hop)
  -m max-hops  maximum number of hops for traceroute (default 30)
  -n           numeric output only (always so)
  -q           quiet: print only the summary
  -t           trace the route instead of pinging
  -S socket    the raw socket service's socket (default ` + rawsock.DefaultPath + `)
Options may be glued to their values (-c1, -W1) and grouped (-qc1), and
may come before or after the host.`

// options is a parsed command line.
type options struct {
	trace    bool
	quiet    bool
	family   string // "ip", "ip4" or "ip6", as net.Resolver takes
	count    int
	hops     int
	interval time.Duration
	timeout  time.Duration
	socket   string
	host     string
}

// errUsage is the error of -h: print the usage, and nothing else wrong.
var errUsage = errors.New("usage")

// parseArgs parses args (without the program name) the way iputils'
// ping and traceroute do with getopt: single-letter options, grouped
// (-qn) or not, a value glued to its option (-c1) or the next argument
// (-c 1), options before or after the host, and "--" ending them.
func parseArgs(args []string, trace bool) (options, error) {
	o := options{trace: trace, family: "ip", count: 4, hops: 30,
		interval: time.Second, timeout: 2 * time.Second, socket: rawsock.DefaultPath}
	var hosts []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			hosts = append(hosts, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			hosts = append(hosts, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			if !takesValue(c, trace) {
				if err := o.setFlag(c); err != nil {
					return o, err
				}
				continue
			}
			v := a[j+1:]
			if v == "" {
				if i+1 == len(args) {
					return o, fmt.Errorf("option requires an argument -- '%c'", c)
				}
				i++
				v = args[i]
			}
			if err := o.setValue(c, v); err != nil {
				return o, err
			}
			break
		}
	}
	if len(hosts) != 1 {
		return o, fmt.Errorf("want one host, got %d", len(hosts))
	}
	o.host = hosts[0]
	return o, nil
}

// takesValue reports whether option c takes a value. Called as
// traceroute, -q (probes per hop) and -w (timeout) take one too, as in
// the traditional traceroute.
func takesValue(c byte, traceroute bool) bool {
	return strings.IndexByte("ciWmS", c) >= 0 || traceroute && (c == 'q' || c == 'w')
}

func (o *options) setFlag(c byte) error {
	switch c {
	case '4':
		o.family = "ip4"
	case '6':
		o.family = "ip6"
	case 'q':
		o.quiet = true
	case 'n': // ping-orbis never looks names up for its output
	case 't':
		o.trace = true
	case 'h':
		return errUsage
	default:
		return fmt.Errorf("invalid option -- '%c'", c)
	}
	return nil
}

func (o *options) setValue(c byte, v string) error {
	var err error
	switch c {
	case 'c':
		o.count, err = positive(v)
	case 'm':
		o.hops, err = positive(v)
	case 'i':
		o.interval, err = seconds(v)
	case 'W', 'w':
		o.timeout, err = seconds(v)
	case 'q':
		if v != "1" {
			err = errors.New("only one probe per hop")
		}
	case 'S':
		o.socket = v
	}
	if err != nil {
		return fmt.Errorf("-%c %s: %w", c, v, err)
	}
	return nil
}

// positive parses a count of at least one.
func positive(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, errors.New("want a whole number from 1")
	}
	return n, nil
}

// seconds parses ping's plain seconds ("0.2") or a Go duration ("200ms").
func seconds(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 && f < 1e6 {
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errors.New("want seconds (0.2) or a duration (200ms)")
	}
	return d, nil
}
