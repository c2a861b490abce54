package plc

import (
	"github.com/orbisproject/orbis/api"

	"context"
	"fmt"
	"sort"
	"strings"
)

// Caller is who makes a call, once authenticated.
type Caller struct {
	// PersonID is the calling person, 0 for a node or anonymous caller.
	PersonID int64
	Email    string
	// Roles are the person's role ids (api.RoleAdmin ...).
	Roles []int64
	// SiteIDs are the sites the person belongs to.
	SiteIDs []int64
	// NodeID is the calling node, for node authentication.
	NodeID int64
	// Anonymous is set for the anonymous auth method.
	Anonymous bool

	// sessionHash and tokenHash name the session or JSON API token the
	// caller authenticated with, if any (DeleteSession, Logout, and the
	// one kept by a self-service password change).
	sessionHash, tokenHash string
	// authMethod is the AuthMethod of the XML-RPC auth struct the caller
	// authenticated with, "" for a JSON API token or central itself.
	authMethod string
}

// Has reports whether the caller holds role.
func (c *Caller) Has(role int64) bool {
	for _, r := range c.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// IsAdmin reports whether the caller is an admin.
func (c *Caller) IsAdmin() bool { return c.Has(api.RoleAdmin) }

// Actor names the caller in the change log: "person 12", "node 3",
// "anonymous", or "system" for central's own work (a zero Caller).
func (c *Caller) Actor() string {
	switch {
	case c.PersonID != 0:
		return fmt.Sprintf("person %d", c.PersonID)
	case c.NodeID != 0:
		return fmt.Sprintf("node %d", c.NodeID)
	case c.Anonymous:
		return "anonymous"
	}
	return "system"
}

// RoleNames are the names, as Method.Roles spells them, of what c is:
// "admin", "pi", "user", "tech", "node" or "anonymous".
func (c *Caller) RoleNames() []string {
	var names []string
	for _, id := range c.Roles {
		if n, ok := roleNames[id]; ok {
			names = append(names, n)
		}
	}
	if c.NodeID != 0 {
		names = append(names, "node")
	}
	if c.Anonymous {
		names = append(names, "anonymous")
	}
	return names
}

var roleNames = map[int64]string{api.RoleAdmin: "admin", api.RolePI: "pi", api.RoleUser: "user", api.RoleTech: "tech"}

// Allows reports whether c holds one of m's roles.
func (m *Method) Allows(c *Caller) bool {
	for _, have := range c.RoleNames() {
		for _, want := range m.Roles {
			if have == want {
				return true
			}
		}
	}
	return false
}

// Authorize returns nil if c holds one of m's roles, else the fault
// PLCAPI answers then: 103 (authentication) to a caller who came with a
// password, a node HMAC or anonymously, as PLCAPI's PasswordAuth,
// BootAuth and AnonymousAuth do; 108 (permission) to a session, as
// SessionAuth does, and to a JSON API token. An admin has no implicit
// rights here: methods list "admin".
func (m *Method) Authorize(c *Caller) *Fault {
	if c != nil && m.Allows(c) {
		return nil
	}
	code := FaultPermission
	if c != nil && (c.authMethod == "password" || c.authMethod == "hmac" || c.authMethod == "anonymous") {
		code = FaultAuth
	}
	return Faultf(code, "permission denied: %s is for %s (the caller is %s)", m.Name, strings.Join(m.Roles, ", "), c.describe())
}

// describe names what c may act as, for a refusal.
func (c *Caller) describe() string {
	if c == nil {
		return "nobody"
	}
	if names := c.RoleNames(); len(names) > 0 {
		return strings.Join(names, ", ")
	}
	return "a caller without roles"
}

// Fault codes of PlanetLab's PLCAPI, as package api names them for
// clients.
const (
	FaultInvalidMethod = api.FaultInvalidMethod
	FaultArgCount      = api.FaultArgCount
	FaultInvalidArg    = api.FaultInvalidArg
	FaultAuth          = api.FaultAuth
	FaultDB            = api.FaultDB
	FaultPermission    = api.FaultPermission
	FaultNotImpl       = api.FaultNotImpl
	FaultAPI           = api.FaultAPI
)

// Fault is an error a caller may see: a PLCAPI fault code and a message a
// person can act on. Every other error is reported as FaultAPI with a
// generic message, its details logged but not shown.
type Fault struct {
	Code int
	Msg  string
}

func (f *Fault) Error() string { return fmt.Sprintf("fault %d: %s", f.Code, f.Msg) }

// Faultf returns a Fault with a formatted message.
func Faultf(code int, format string, args ...any) *Fault {
	return &Fault{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Method is one API method. Arguments arrive decoded into generic values:
// int64, float64, string, bool, nil, []any and map[string]any, whichever
// encoding carried them.
type Method struct {
	Name string
	// Help is the method's description (system.methodHelp).
	Help string
	// Signature lists XML-RPC type names, the return type first, then
	// every argument including auth (system.methodSignature).
	Signature []string
	// Roles may call the method: "admin", "pi", "user", "tech", "node",
	// "anonymous". Finer checks (own site, own slice) are in Call.
	Roles []string
	// MinArgs and MaxArgs bound the number of arguments after auth.
	MinArgs, MaxArgs int
	// Missing marks a PLCAPI method Orbis does not implement yet: Call
	// answers fault 109.
	Missing bool
	// Call runs the method for an authenticated caller.
	Call func(ctx context.Context, c *Caller, args []any) (any, error)
}

// Registry is a method table.
type Registry struct {
	methods map[string]*Method
}

// NewRegistry returns an empty table.
func NewRegistry() *Registry { return &Registry{methods: map[string]*Method{}} }

// Add puts m in the table, in place of a stub of a method not
// implemented yet (Missing); any other duplicate name is a programming
// error.
func (r *Registry) Add(m *Method) {
	if prev, dup := r.methods[m.Name]; dup && !prev.Missing {
		panic("plc: method registered twice: " + m.Name)
	}
	r.methods[m.Name] = m
}

// Lookup returns the method called name, or nil.
func (r *Registry) Lookup(name string) *Method { return r.methods[name] }

// Names lists the methods in order.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.methods))
	for n := range r.methods {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
