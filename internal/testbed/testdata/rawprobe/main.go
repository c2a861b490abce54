// Command rawprobe is the testbed's attacker and victim inside a sliver
// (TestRawSocketAttacks): it reads one command a line on its standard
// input and answers each with one line starting with the command's name;
// raw and sniffer sockets also print what they receive ("raw pkt <hex>")
// and how they end ("raw end <unix ns> <error>"). Commands:
//
//	listen tcp|udp ADDR:PORT   hold a port: "listen: ok PORT" or the errno
//	connect LADDR:LPORT RADDR:RPORT   a TCP connection from a bound port
//	close                      close what listen and connect hold
//	raw|sniff tcp|udp PORT     a raw or sniffer socket: "raw: ok" or "raw: refused <why>"
//	unbind                     close the raw and sniffer sockets
//	bindloop ADDR:PORT         try to listen there every 2 ms for 10 s, then serve
//	                           there: "bindloop: EADDRINUSE*3 EPERM*120 ok <unix ns>"
//	autobind DST:PORT N        N unbound UDP sockets each send to DST:PORT:
//	                           "autobind: <local port> ..."
//
// A server (bindloop) answers a connection's first line with "victim got:
// <line>".
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/api/rawsock"
)

var (
	outMu sync.Mutex
	held  []io.Closer
	socks []*rawsock.Conn
)

func say(format string, args ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Printf(format+"\n", args...)
}

func errName(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

func main() {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		run(f[0], f[1:])
	}
}

func run(cmd string, args []string) {
	switch {
	case cmd == "listen" && len(args) == 2:
		listen(args[0], args[1])
	case cmd == "connect" && len(args) == 2:
		d := net.Dialer{LocalAddr: mustTCPAddr(args[0])}
		c, err := d.Dial("tcp", args[1])
		if err != nil {
			say("connect: %s", errName(err))
			return
		}
		held = append(held, c)
		say("connect: ok")
	case cmd == "close":
		for _, c := range held {
			c.Close()
		}
		held = nil
		say("close: ok %d", time.Now().UnixNano())
	case (cmd == "raw" || cmd == "sniff") && len(args) == 2:
		bind(cmd, args[0], args[1])
	case cmd == "unbind":
		for _, c := range socks {
			c.Close()
		}
		socks = nil
		say("unbind: ok")
	case cmd == "bindloop" && len(args) == 1:
		go bindLoop(args[0])
	case cmd == "autobind" && len(args) == 2:
		autobind(args[0], args[1])
	default:
		say("%s: bad command %q", cmd, args)
	}
}

func mustTCPAddr(s string) *net.TCPAddr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		say("bad address %q", s)
		os.Exit(2)
	}
	return a
}

func listen(proto, addr string) {
	var c io.Closer
	var port int
	if proto == "udp" {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			say("listen: %s", errName(err))
			return
		}
		c, port = pc, pc.LocalAddr().(*net.UDPAddr).Port
	} else {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			say("listen: %s", errName(err))
			return
		}
		c, port = l, l.Addr().(*net.TCPAddr).Port
	}
	held = append(held, c)
	say("listen: ok %d", port)
}

func bind(kind, proto, portStr string) {
	port, _ := strconv.Atoi(portStr)
	p := rawsock.ProtoTCP
	if proto == "udp" {
		p = rawsock.ProtoUDP
	}
	dial := rawsock.Dial
	if kind == "sniff" {
		dial = rawsock.Sniff
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dial(ctx, "", p, uint16(port))
	if err != nil {
		if errors.Is(err, rawsock.ErrRefused) {
			say("%s: refused %v", kind, err)
		} else {
			say("%s: failed %v", kind, err)
		}
		return
	}
	socks = append(socks, c)
	say("%s: ok", kind)
	go func() {
		for {
			pkt, err := c.Receive(context.Background())
			if err != nil {
				say("%s end %d %v", kind, time.Now().UnixNano(), err)
				return
			}
			say("%s pkt %x", kind, pkt)
		}
	}()
}

// bindLoop tries to listen on addr until it can, then serves there.
func bindLoop(addr string) {
	var runs []string
	last, n := "", 0
	note := func(r string) {
		if r != last && n > 0 {
			runs = append(runs, fmt.Sprintf("%s*%d", last, n))
			n = 0
		}
		last = r
		n++
	}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			note(errName(err))
			continue
		}
		note("")
		say("bindloop: %s ok %d", strings.Join(runs, " "), time.Now().UnixNano())
		serve(l)
		return
	}
	note("")
	say("bindloop: %s never", strings.Join(runs, " "))
}

func serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if line, err := bufio.NewReader(c).ReadString('\n'); err == nil {
				io.WriteString(c, "victim got: "+line)
			}
		}()
	}
}

// autobind sends from n unbound UDP sockets and reports their ports.
func autobind(dst, nStr string) {
	n, _ := strconv.Atoi(nStr)
	to, err := net.ResolveUDPAddr("udp", dst)
	if err != nil {
		say("autobind: %v", err)
		return
	}
	var ports []string
	for range n {
		c, err := net.DialUDP("udp", nil, to)
		if err != nil {
			ports = append(ports, errName(err))
			continue
		}
		c.Write([]byte("autobind"))
		ports = append(ports, strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port))
		c.Close()
	}
	say("autobind: %s", strings.Join(ports, " "))
}
