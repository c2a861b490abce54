// Command hostile is what the attack tests in internal/testbed run inside
// slivers, as a hostile slice would (built static, copied in over ssh):
//
//	hostile hold udp|tcp FROM TO   bind (tcp: and listen on) every port FROM..TO,
//	                               in as many processes as the open-file limit
//	                               needs; prints "held N" and sleeps
//	hostile probe UDPADDR TCPADDR  an unbound UDP send and a TCP connect, as any
//	                               program makes; prints each outcome
//	hostile listen ADDR            listen on TCP ADDR; prints "listening" or the
//	                               error, and ends
//	hostile absl NAME              listen on the abstract Unix socket @NAME,
//	                               print "listening" and answer "secret"
//	hostile absc NAME              connect to @NAME and print the answer
package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

func main() {
	a := os.Args[1:]
	switch a[0] {
	case "hold":
		hold(a[1], atoi(a[2]), atoi(a[3]))
	case "bind": // one process's share of hold
		n := bind(a[1], atoi(a[2]), atoi(a[3]))
		fmt.Println(n)
		time.Sleep(time.Hour)
	case "probe":
		probe(a[1], a[2])
	case "listen":
		l, err := net.Listen("tcp", a[1])
		if err != nil {
			fmt.Println("listen:", err)
			return
		}
		l.Close()
		fmt.Println("listening")
	case "absl":
		l, err := net.Listen("unix", "@"+a[1])
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(1)
		}
		fmt.Println("listening")
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("secret"))
			c.Close()
		}
	case "absc":
		c, err := net.Dial("unix", "@"+a[1])
		if err != nil {
			fmt.Println("connect:", err)
			return
		}
		b := make([]byte, 64)
		n, _ := c.Read(b)
		fmt.Printf("connected, got %q\n", b[:n])
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// hold binds every port from lo to hi in child processes of 900 ports each.
func hold(proto string, lo, hi int) {
	total := 0
	for from := lo; from <= hi; from += 900 {
		to := min(from+899, hi)
		cmd := exec.Command("/proc/self/exe", "bind", proto, strconv.Itoa(from), strconv.Itoa(to))
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // the hold ends with its parent
		out, err := cmd.StdoutPipe()
		if err != nil {
			panic(err)
		}
		if err := cmd.Start(); err != nil {
			panic(err)
		}
		var n int
		fmt.Fscan(out, &n)
		total += n
	}
	fmt.Println("held", total)
	time.Sleep(time.Hour)
}

func bind(proto string, lo, hi int) int {
	n := 0
	for p := lo; p <= hi; p++ {
		typ := syscall.SOCK_STREAM
		if proto == "udp" {
			typ = syscall.SOCK_DGRAM
		}
		fd, err := syscall.Socket(syscall.AF_INET, typ, 0)
		if err != nil {
			continue
		}
		if syscall.Bind(fd, &syscall.SockaddrInet4{Port: p}) != nil {
			syscall.Close(fd)
			continue
		}
		if proto == "tcp" && syscall.Listen(fd, 1) != nil {
			syscall.Close(fd)
			continue
		}
		n++
	}
	return n
}

func probe(udpAddr, tcpAddr string) {
	u, err := net.Dial("udp", udpAddr)
	if err == nil {
		_, err = u.Write([]byte("x"))
	}
	fmt.Println("udp:", errText(err))
	c, err := net.DialTimeout("tcp", tcpAddr, 3*time.Second)
	if err == nil {
		c.Close()
	}
	fmt.Println("tcp:", errText(err))
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
