package plc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The API handlers put the client's address in the context of every
// call (WithRequestAddr), and the authenticator reads it (ClientAddr) to
// throttle failed logins per source. It lives here, not in xmlrpc,
// because plc cannot import xmlrpc (xmlrpc imports plc).
//
// The address is the TCP peer's. X-Forwarded-For is believed only from
// a peer among TrustedProxies (central's -trusted-proxies, none by
// default): a client can write anything in that header, and believing it
// would let a guesser pick a new source for every guess.

type clientAddrKey struct{}

// WithClientAddr returns ctx carrying addr, the IP address (without port)
// of the client making a call.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddr returns the client address that WithClientAddr put in ctx, or
// "" if there is none.
func ClientAddr(ctx context.Context) string {
	addr, _ := ctx.Value(clientAddrKey{}).(string)
	return addr
}

// WithRequestAddr returns r's context carrying the client's address: the
// one TrustedProxies.Handler put there, else r's TCP peer.
func WithRequestAddr(r *http.Request) context.Context {
	if ClientAddr(r.Context()) != "" {
		return r.Context()
	}
	return WithClientAddr(r.Context(), peerAddr(r))
}

// peerAddr is the host part of r's RemoteAddr.
func peerAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// TrustedProxies are the reverse proxies whose X-Forwarded-For header
// names the client.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies reads a comma-separated list of addresses and
// CIDR prefixes ("" is none).
func ParseTrustedProxies(s string) (TrustedProxies, error) {
	var tp TrustedProxies
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR prefix", f)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		tp = append(tp, p.Masked())
	}
	return tp, nil
}

// trusted reports whether addr is one of the proxies.
func (tp TrustedProxies) trusted(addr string) bool {
	a, err := netip.ParseAddr(strings.Trim(addr, "[]"))
	if err != nil {
		return false
	}
	for _, p := range tp {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// RequestAddr is the address of r's client: its TCP peer, unless that is
// a trusted proxy; then, walking X-Forwarded-For from the right (the
// entries the proxies appended), the first address that is not a trusted
// proxy. An entry that is not an address stops the walk at the last
// proxy.
func (tp TrustedProxies) RequestAddr(r *http.Request) string {
	addr := peerAddr(r)
	if !tp.trusted(addr) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.Trim(strings.TrimSpace(hops[i]), "[]")
		if _, err := netip.ParseAddr(hop); err != nil {
			return addr
		}
		addr = hop
		if !tp.trusted(hop) {
			return hop
		}
	}
	return addr
}

// Handler puts each request's client address (RequestAddr) in its
// context for the handlers behind it.
func (tp TrustedProxies) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(WithClientAddr(r.Context(), tp.RequestAddr(r))))
	})
}
