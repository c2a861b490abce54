package portmgr

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// TCP states in /proc/net/tcp (include/net/tcp_states.h) of a socket
// that holds a port for itself: listening, or bound and not yet
// connected. Connections are left out: their local ports are ephemeral,
// or the listener's.
const (
	tcpListen   = 0x0A
	tcpClose    = 0x07
	tcpTimeWait = 0x06
)

// procNetFiles are the socket tables read for bound entries, with their
// protocol.
var procNetFiles = []struct{ file, proto string }{
	{"tcp", "tcp"}, {"tcp6", "tcp"}, {"udp", "udp"}, {"udp6", "udp"},
}

// boundSockets reads procRoot/net/{tcp,tcp6,udp,udp6} (the socket tables
// of the reader's network namespace) and returns an entry per (protocol,
// port, owner) of a socket holding a port whose UID resolve attributes to
// an owner.
func boundSockets(procRoot string, resolve func(uint32) (string, bool)) ([]Entry, error) {
	if resolve == nil {
		return nil, nil
	}
	seen := map[Entry]bool{}
	var out []Entry
	for _, f := range procNetFiles {
		socks, err := readProcNet(filepath.Join(procRoot, "net", f.file))
		if err != nil {
			return nil, err
		}
		for _, s := range socks {
			if f.proto == "tcp" && s.state != tcpListen && s.state != tcpClose {
				continue
			}
			owner, ok := resolve(s.uid)
			e := Entry{Proto: f.proto, Port: s.port, Owner: owner, Kind: Bound}
			if ok && s.port != 0 && !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// procSock is one line of a /proc/net socket table.
type procSock struct {
	addr  netip.Addr // the local address (IPv4-mapped ones unmapped)
	port  uint16
	state uint8
	uid   uint32
}

func readProcNet(path string) ([]procSock, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil // no IPv6, say
	}
	if err != nil {
		return nil, fmt.Errorf("read socket table: %w", err)
	}
	defer f.Close()
	socks, err := parseProcNet(f)
	if err != nil {
		return nil, fmt.Errorf("read socket table %s: %w", path, err)
	}
	return socks, nil
}

// parseProcNet parses a /proc/net/{tcp,udp}[6] table:
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid ...
//	0: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 ...
func parseProcNet(r io.Reader) ([]procSock, error) {
	sc := bufio.NewScanner(r)
	sc.Scan() // the header
	var out []procSock
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		addrHex, portHex, ok := strings.Cut(f[1], ":")
		addr, err0 := parseHexAddr(addrHex)
		port, err1 := strconv.ParseUint(portHex, 16, 16)
		state, err2 := strconv.ParseUint(f[3], 16, 8)
		uid, err3 := strconv.ParseUint(f[7], 10, 32)
		if !ok || err0 != nil || err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("bad line %q", sc.Text())
		}
		out = append(out, procSock{addr: addr, port: uint16(port), state: uint8(state), uid: uint32(uid)})
	}
	return out, sc.Err()
}

// parseHexAddr reads an address of a /proc/net socket table: 8 or 32 hex
// digits, each 32-bit word in the host's byte order.
func parseHexAddr(s string) (netip.Addr, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 4 && len(b) != 16 {
		return netip.Addr{}, fmt.Errorf("address %q", s)
	}
	for i := 0; i < len(b); i += 4 {
		binary.BigEndian.PutUint32(b[i:], binary.NativeEndian.Uint32(b[i:]))
	}
	a, _ := netip.AddrFromSlice(b)
	return a.Unmap(), nil
}

// ephemeralRange reads the kernel's ephemeral port range, from which it
// picks the port of an unbound socket that connects or sends.
func ephemeralRange(procRoot string) (lo, hi uint16, err error) {
	b, err := os.ReadFile(filepath.Join(procRoot, "sys/net/ipv4/ip_local_port_range"))
	if err != nil {
		return 0, 0, fmt.Errorf("ephemeral port range: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 2 {
		l, err1 := strconv.ParseUint(f[0], 10, 16)
		h, err2 := strconv.ParseUint(f[1], 10, 16)
		if err1 == nil && err2 == nil {
			return uint16(l), uint16(h), nil
		}
	}
	return 0, 0, fmt.Errorf("ephemeral port range: cannot parse %q", b)
}

// sortEntries orders entries by protocol, port, kind (reserved first)
// and owner.
func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port),
			-cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Owner, b.Owner))
	})
}

// WriteTable prints entries as an aligned table.
func WriteTable(w io.Writer, es []Entry) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-5s %5s  %-8s  %s\n", "PROTO", "PORT", "KIND", "OWNER")
	for _, e := range es {
		fmt.Fprintf(&b, "%-5s %5d  %-8s  %s\n", e.Proto, e.Port, e.Kind, e.Owner)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
