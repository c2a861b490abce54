// Command plabdump captures, as an unprivileged user in a sliver, every
// packet the node receives at, or sends from, a TCP or UDP port the
// sliver's slice holds alone, through a sniffer socket of the node's safe raw socket
// service (api/rawsock), and writes them as pcap to its standard output:
//
//	plabdump -p 8080 | tcpdump -n -r -
//	plabdump [-u] [-c count] [-s snaplen] [-S socket] -p port
//
// Like ping-orbis it is not part of the orbis binary: the image builder
// installs a static build in reference images as /usr/bin/plabdump. On
// exit it says on standard error how many packets it wrote and how many
// were dropped because it did not keep up.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/orbisproject/orbis/api/rawsock"
)

func main() {
	port := flag.Uint("p", 0, "the TCP (or, with -u, UDP) port to capture, one the slice owns")
	udp := flag.Bool("u", false, "capture a UDP port instead of a TCP port")
	count := flag.Int("c", 0, "exit after this many packets (0: until interrupted)")
	snaplen := flag.Int("s", 65535, "bytes to keep of each packet")
	path := flag.String("S", rawsock.DefaultPath, "the raw socket service's socket")
	flag.Parse()
	if *port == 0 || *port > 65535 || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	proto := rawsock.ProtoTCP
	if *udp {
		proto = rawsock.ProtoUDP
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGPIPE)
	defer stop()
	if err := run(ctx, *path, proto, uint16(*port), *count, *snaplen); err != nil {
		fmt.Fprintln(os.Stderr, "plabdump:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, path string, proto uint8, port uint16, count, snaplen int) error {
	c, err := rawsock.Sniff(ctx, path, proto, port)
	if err != nil {
		return err
	}
	defer c.Close()
	out := bufio.NewWriter(os.Stdout)
	w, err := rawsock.NewPcapWriter(out, snaplen)
	if err == nil {
		err = out.Flush()
	}
	written := 0
	for err == nil && (count == 0 || written < count) {
		var pkt []byte
		if pkt, err = c.Receive(ctx); err != nil {
			break
		}
		if err = w.WritePacket(time.Now(), pkt); err == nil {
			err = out.Flush() // a reader of the pipe sees each packet at once
		}
		written++
	}
	report(c, written)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// report writes the counts to standard error, as tcpdump does.
func report(c *rawsock.Conn, written int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := c.Stats(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%d packets captured\n", written)
		return
	}
	fmt.Fprintf(os.Stderr, "%d packets captured\n%d packets dropped\n", written, s.Dropped)
}
