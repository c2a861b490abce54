package testbed

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
)

// Report is the state of a testbed as Status sees it.
type Report struct {
	State *State
	// CentralAlive tells whether the central process runs.
	CentralAlive bool
	Nodes        []NodeReport
}

// NodeReport is one node's line of a Report.
type NodeReport struct {
	Node  Node
	Alive bool
	// LastContact is when central last heard from the node (zero: never
	// or unknown).
	LastContact time.Time
	// Slivers are the node manager's slivers; Err says why they are
	// unknown.
	Slivers []api.SliverInfo
	Err     string
}

// Status reports on the testbed in cfg.Dir: its processes, each node's
// last contact with central and its slivers. It returns ErrNotRunning if
// there is no testbed.
func Status(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	st, err := cfg.load()
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("%w in %s (`orbis testbed up --nodes N` starts one)", ErrNotRunning, cfg.Dir)
	}
	r := &Report{State: st, CentralAlive: st.Central.Alive()}
	contacts := lastContacts(ctx, st)
	for _, n := range st.Nodes {
		nr := NodeReport{Node: n, Alive: n.Proc.Alive(), LastContact: contacts[n.Hostname]}
		if nr.Alive {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			l, err := api.NewNMClient(n.NMSocket).List(cctx)
			cancel()
			if err != nil {
				nr.Err = err.Error()
			}
			nr.Slivers = l.Slivers
		}
		r.Nodes = append(r.Nodes, nr)
	}
	return r, nil
}

// ErrNotRunning is returned by Status when there is no testbed.
var ErrNotRunning = fmt.Errorf("no testbed")

// lastContacts asks central when it last heard from each node; an
// unreachable central yields none.
func lastContacts(ctx context.Context, st *State) map[string]time.Time {
	out := map[string]time.Time{}
	if !st.Central.Alive() {
		return out
	}
	adm, err := ReadAdmin(st)
	if err != nil {
		return out
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rpc, err := newPLC(st, adm)
	if err != nil {
		return out
	}
	r, err := rpc.call(cctx, "GetNodes", map[string]any{}, []any{"hostname", "last_contact"})
	if err != nil {
		return out
	}
	l, _ := r.([]any)
	for _, x := range l {
		m, _ := x.(map[string]any)
		host, _ := m["hostname"].(string)
		if t, ok := plc.AsInt(m["last_contact"]); ok && t > 0 {
			out[host] = time.Unix(t, 0)
		}
	}
	return out
}

// Print writes the report as an aligned table.
func (r *Report) Print(w io.Writer, now time.Time) {
	fmt.Fprintf(w, "central  %s  pid %d  %s\n\n", r.State.CentralURL, r.State.Central.Pid, aliveWord(r.CentralAlive))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tPID\tALIVE\tLAST CONTACT\tSLIVERS")
	for _, n := range r.Nodes {
		contact := "never"
		if !r.CentralAlive {
			contact = "-"
		} else if !n.LastContact.IsZero() {
			contact = now.Sub(n.LastContact).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", n.Node.Hostname, n.Node.Addr, n.Node.Proc.Pid,
			aliveWord(n.Alive), contact, n.sliverText())
	}
	tw.Flush()
}

func aliveWord(alive bool) string {
	if alive {
		return "yes"
	}
	return "no"
}

// sliverText lists a node's slivers as name(state), or says why not.
func (n NodeReport) sliverText() string {
	switch {
	case !n.Alive:
		return "-"
	case n.Err != "":
		return "? (" + n.Err + ")"
	case len(n.Slivers) == 0:
		return "none"
	}
	var parts []string
	for _, s := range n.Slivers {
		parts = append(parts, s.Name+"("+string(s.State)+")")
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// printUp writes the table of nodes Up started and how to use them.
func (st *State) printUp(w io.Writer, adm string) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tSSH\tTRAFFIC PAGE")
	hosts := make([]string, 0, len(st.Nodes))
	for _, n := range st.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Hostname, n.Addr, sshCommand(n, Site+"_demo"), n.AuditURL)
		hosts = append(hosts, n.Hostname)
	}
	tw.Flush()
	fmt.Fprintf(w, `
Central is %[1]s; its admin is %[2]s, password in %[3]s.
Its CA is %[7]s (certificate in %[8]s).
Next, as in the README's tour:
  orbis login --central %[1]s --user %[2]s --ca-hash %[7]s
  orbis key add %[2]s ~/.ssh/id_ed25519.pub
  orbis slice create %[4]s_demo --description "testbed demo" --url http://example.org
  orbis slice add-user %[4]s_demo %[2]s
  orbis slice add-nodes %[4]s_demo %[5]s
  %[6]s
orbis testbed status shows the nodes; orbis testbed down stops them and removes the network.
`, st.CentralURL, adm, st.AdminFile, Site, strings.Join(hosts, " "), sshCommand(st.Nodes[0], Site+"_demo"), st.CAHash, st.CAFile)
}

func sshCommand(n Node, slice string) string {
	host, port := n.Addr, "22"
	if i := strings.LastIndexByte(n.SSHAddr, ':'); i >= 0 {
		port = n.SSHAddr[i+1:]
	}
	if port == "22" {
		return "ssh " + slice + "@" + host
	}
	return "ssh -p " + port + " " + slice + "@" + host
}
