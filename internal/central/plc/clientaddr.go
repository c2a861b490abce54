package plc

import "context"

// Added by the xmlrpc/jsonapi engineer: the API handlers put the client's
// address in the context of every call, and the authenticator (in this
// package) reads it to rate-limit failed logins per client. It lives here,
// not in xmlrpc, because plc cannot import xmlrpc (xmlrpc imports plc).

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
