package plc

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// GenerateNodeConfFile answers, as PLCAPI's does for a boot CD's
// plnode.txt, the text a node needs to join: lines NAME="value" that a
// POSIX shell can source (docs/plcapi.md describes them). With
// regenerate_node_key (the default) it holds a new registration token and
// every earlier token of the node stops working, as PLCAPI's new node key
// invalidates the old files; without, it holds no token, since central
// keeps only tokens' hashes.

func (s *Service) registerNodeConf() {
	s.add(method{name: "GenerateNodeConfFile", roles: rolesPI, min: 1, max: 2, sig: []string{"string", "int", "int", "boolean"},
		help: "Returns a node's (by node_id or hostname) configuration: central's URL, the CA hash the node pins, and, when regenerate_node_key is true (the default), a new one-time registration token, good for " +
			NodeTokenTTL.String() + ", that replaces the node's earlier ones; `orbis node --central URL --token TOKEN` registers with them. Admins, and PIs of the node's site.",
		call: s.generateNodeConfFile})
}

func (s *Service) generateNodeConfFile(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "node_id_or_hostname")
	if err != nil {
		return nil, err
	}
	regenerate := true
	if v := optArg(args, 1); v != nil {
		b, ok := v.(bool)
		if !ok {
			return nil, badArg("regenerate_node_key", "a boolean", v)
		}
		regenerate = b
	}
	central, err := centralOrigin(s.centralURL)
	if err != nil {
		return nil, err
	}
	var n *api.Node
	var primary *api.Interface
	var token string
	var expires int64
	err = s.update(ctx, c, func(t *txn) error {
		if n, err = t.node(ref); err != nil {
			return err
		}
		if !t.c.IsAdmin() && !t.isPIOf(n.SiteID) {
			return denied("only an admin or a PI of its site may generate node %s's configuration", n.Hostname)
		}
		ifs, err := t.Interfaces(store.Query{Conds: []store.Cond{{Field: "node_id", Op: store.Eq, Value: n.NodeID}, {Field: "is_primary", Op: store.Eq, Value: true}}})
		if err != nil {
			return err
		}
		if len(ifs) > 0 {
			primary = &ifs[0]
		}
		if !regenerate {
			return nil
		}
		if err := t.DeleteNodeTokens(n.NodeID); err != nil {
			return err
		}
		token, expires = randomHex(32), t.now+int64(NodeTokenTTL/time.Second)
		return t.AddNodeToken(n.NodeID, sha256Hex(token), expires)
	})
	if err != nil {
		return nil, err
	}
	return nodeConf(n, primary, central, s.caHash, token, expires), nil
}

// centralOrigin is the scheme and host of central's URL, which the node
// is given.
func centralOrigin(u string) (string, error) {
	p, err := url.Parse(u)
	if u == "" || err != nil || p.Host == "" || (p.Scheme != "https" && p.Scheme != "http") {
		return "", Faultf(FaultAPI, "central does not know its own URL (central's -portal-url): cannot tell a node where to join")
	}
	return p.Scheme + "://" + p.Host, nil
}

// nodeConf writes a node's configuration (n, its primary interface or
// nil, the join token or ""), as PLCAPI's plnode.txt has its lines.
func nodeConf(n *api.Node, primary *api.Interface, central, caHash, token string, expires int64) string {
	var b strings.Builder
	line := func(name, value string) { fmt.Fprintf(&b, "%s=%s\n", name, shellQuote(value)) }
	b.WriteString("# Orbis node configuration (PLCAPI's GenerateNodeConfFile). On the node, as root:\n")
	b.WriteString("#   . ./this-file && orbis node --central \"$ORBIS_CENTRAL\" --token \"$ORBIS_TOKEN\"\n")
	line("NODE_ID", strconv.FormatInt(n.NodeID, 10))
	host, domain, _ := strings.Cut(n.Hostname, ".")
	line("HOST_NAME", host)
	line("DOMAIN_NAME", domain)
	line("ORBIS_CENTRAL", central)
	line("ORBIS_CA_HASH", caHash)
	if token != "" {
		line("ORBIS_TOKEN", api.JoinToken(token, caHash))
		line("ORBIS_TOKEN_EXPIRES", time.Unix(expires, 0).UTC().Format(time.DateTime))
	} else {
		b.WriteString("# No ORBIS_TOKEN: central keeps only the hashes of tokens; generate the file with regenerate_node_key to get a new one.\n")
	}
	if primary == nil {
		return b.String()
	}
	b.WriteString("# The node's primary interface, as PLCAPI has it; an Orbis node configures its own network and does not read these.\n")
	if primary.MAC != "" {
		line("NET_DEVICE", strings.ToLower(primary.MAC))
	}
	line("IP_METHOD", primary.Method)
	if primary.Method == "static" {
		for _, kv := range [][2]string{{"IP_ADDRESS", primary.IP}, {"IP_GATEWAY", primary.Gateway}, {"IP_NETMASK", primary.Netmask},
			{"IP_NETADDR", primary.Network}, {"IP_BROADCASTADDR", primary.Broadcast}, {"IP_DNS1", primary.DNS1}, {"IP_DNS2", primary.DNS2}} {
			line(kv[0], kv[1])
		}
	}
	return b.String()
}

// shellQuote quotes v for a POSIX shell's double quotes, as plnode.txt
// quotes its values.
func shellQuote(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`", "\n", " ")
	return `"` + r.Replace(v) + `"`
}
