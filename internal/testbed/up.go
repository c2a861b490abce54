package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
	"github.com/orbisproject/orbis/internal/node/rm"
	"github.com/orbisproject/orbis/internal/rootfs"
	"github.com/orbisproject/orbis/internal/sandbox"
)

// ErrRunning is returned by Up when the testbed already runs.
var ErrRunning = errors.New("a testbed is already running")

// Up builds the network, starts central and cfg.Nodes nodes, registers
// each node with central and waits until each follows it; it tells
// cfg.Out of its progress, then prints the nodes and how to use them. On
// failure it
// tears down what it made. The processes keep running after Up returns,
// until Down.
func Up(ctx context.Context, cfg Config) (st *State, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := cfg.checkUp(); err != nil {
		return nil, err
	}
	unlock, err := lock(cfg.Dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := cfg.clearStale(ctx); err != nil {
		return nil, err
	}
	if err := cfg.checkFree(); err != nil {
		return nil, err
	}
	st = cfg.newState()
	defer func() {
		if err != nil {
			if _, derr := cfg.down(context.WithoutCancel(ctx)); derr != nil {
				cfg.Log.Error("tear down the half-built testbed", "err", derr)
			}
			st = nil
		}
	}()
	if err := cfg.buildNetwork(st); err != nil {
		return st, err
	}
	if err := cfg.startCentral(ctx, st); err != nil {
		return st, err
	}
	if err := cfg.startNodes(ctx, st); err != nil {
		return st, err
	}
	adm, err := ReadAdmin(st)
	if err != nil {
		return st, err
	}
	st.printUp(cfg.Out, adm.Email)
	return st, nil
}

// clearStale refuses a testbed that runs; one whose processes all died
// (a crash, a reboot) is swept away first.
func (c *Config) clearStale(ctx context.Context) error {
	st, err := c.load()
	if err != nil || st == nil {
		return err
	}
	if st.running() {
		return fmt.Errorf("%w in %s (see `orbis testbed status`; `orbis testbed down` stops it)", ErrRunning, c.Dir)
	}
	fmt.Fprintln(c.Out, "orbis testbed: cleaning up after a testbed that died")
	_, err = c.down(ctx)
	return err
}

func (c *Config) newState() *State {
	st := &State{Prefix: c.Prefix, Subnet: c.Subnet.String(), Bridge: c.bridge(), HostAddr: c.hostAddr().String(),
		CentralURL: c.centralURL(), CAFile: central.CAFile(c.centralDir()), AdminFile: central.AdminFile(c.centralDir())}
	for i := 1; i <= c.Nodes; i++ {
		addr, _ := c.nodeAddr(i)
		dir := c.nodeDir(i)
		audit := net.JoinHostPort(addr.String(), strconv.Itoa(c.AuditPort))
		st.Nodes = append(st.Nodes, Node{Index: i, Hostname: Hostname(i), Addr: addr.String(),
			SSHAddr:   net.JoinHostPort(addr.String(), strconv.Itoa(c.SSHPort)),
			AuditAddr: audit, AuditURL: "http://" + audit + "/", Netns: c.netnsPath(i), Veth: c.veth(i),
			StateDir: dir, NMSocket: filepath.Join(dir, "nm.sock"), Log: c.logFile("n" + strconv.Itoa(i)),
			CgroupParent: c.cgroupParent(i), UIDBase: c.uidBase(i)})
	}
	return st
}

// buildNetwork makes the bridge and each node's namespace, recording the
// state first so that a crash half-way is still swept by Down.
func (c *Config) buildNetwork(st *State) error {
	if err := c.save(st); err != nil {
		return err
	}
	if err := c.addBridge(); err != nil {
		return err
	}
	for i := 1; i <= c.Nodes; i++ {
		if err := c.addNode(i); err != nil {
			return fmt.Errorf("node %d network: %w", i, err)
		}
	}
	fmt.Fprintf(c.Out, "orbis testbed: bridge %s %s/%d, %d network namespaces\n", c.bridge(), c.hostAddr(), c.Subnet.Bits(), c.Nodes)
	return nil
}

// startCentral runs `orbis central` on the host's bridge address and
// waits until it answers and its admin exists.
func (c *Config) startCentral(ctx context.Context, st *State) error {
	args := []string{"central", "--addr", c.centralAddr(), "--data", c.centralDir(), "--admin-email", AdminEmail}
	if c.DB != "" {
		args = append(args, "--db", c.DB)
	}
	p, err := startDetached(c.Binary, args, "", c.logFile("central"))
	if err != nil {
		return fmt.Errorf("central: %w", err)
	}
	st.Central = p
	if err := c.save(st); err != nil {
		return err
	}
	err = waitReady(ctx, p, c.logFile("central"), 30*time.Second, func(ctx context.Context) error {
		if _, err := os.Stat(st.AdminFile); err != nil {
			return err
		}
		conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", c.centralAddr())
		if err == nil {
			conn.Close()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("central: %w", err)
	}
	if st.CAHash, err = readCAHash(st.CAFile); err != nil {
		return err
	}
	if err := c.save(st); err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "orbis testbed: central up at %s (log %s), its CA %s in %s\n", st.CentralURL, c.logFile("central"), st.CAHash, st.CAFile)
	return nil
}

// startNodes registers the nodes that are new to central, builds their
// reference image, starts them all and waits until each follows central.
func (c *Config) startNodes(ctx context.Context, st *State) error {
	adm, err := ReadAdmin(st)
	if err != nil {
		return err
	}
	rpc, err := newPLC(st, adm)
	if err != nil {
		return err
	}
	for i := range st.Nodes {
		n := &st.Nodes[i]
		token, err := rpc.nodeToken(ctx, n)
		if err != nil {
			return fmt.Errorf("register %s at central: %w", n.Hostname, err)
		}
		if err := ensureImage(ctx, n.StateDir, c); err != nil {
			return fmt.Errorf("%s: %w", n.Hostname, err)
		}
		bin, err := c.nodeBinary(n)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Hostname, err)
		}
		if n.Proc, err = startDetached(bin, c.nodeArgs(n, st.CentralURL, api.JoinToken(token, st.CAHash)), n.Netns, n.Log); err != nil {
			return fmt.Errorf("%s: %w", n.Hostname, err)
		}
		if err := c.save(st); err != nil {
			return err
		}
	}
	return c.waitNodes(ctx, st)
}

// nodeDiskMiB is the size each testbed node's slivers' disk image starts
// at: it is allocated for real (never sparse), and a testbed may have 200
// nodes on one machine's disk; it grows as slivers fill it.
const nodeDiskMiB = 128

func (c *Config) nodeArgs(n *Node, url, token string) []string {
	args := []string{"node", "--state", n.StateDir, "--nm-socket", n.NMSocket, "--ssh-addr", n.SSHAddr, "--audit-addr", n.AuditAddr,
		"--hostname", n.Hostname, "--ip", n.Addr, "--central", url, "--cgroup-parent", n.CgroupParent,
		"--uid-base", strconv.FormatUint(uint64(n.UIDBase), 10), "--uid-ranges", strconv.FormatUint(uint64(c.UIDRanges), 10),
		"--suspend-on-exit", "--policy", filepath.Join(n.StateDir, "policy"), "--port-scope", "node",
		"--disk-image-size", strconv.Itoa(nodeDiskMiB)}
	if token != "" {
		args = append(args, "--token", token)
	}
	if c.UpgradeCheck > 0 {
		args = append(args, "--upgrade-check", c.UpgradeCheck.String())
	}
	return args
}

// NodeBinary is the executable node n runs with OwnBinary.
func NodeBinary(n *Node) string { return n.StateDir + "-bin/orbis" }

// nodeBinary returns the executable node n runs: Binary, or with
// OwnBinary a link to it (or copy) of the node's own.
func (c *Config) nodeBinary(n *Node) (string, error) {
	if !c.OwnBinary {
		return c.Binary, nil
	}
	p := NodeBinary(n)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("node binary: %w", err)
	}
	// The node looks for the sliver init programs beside its binary.
	for _, name := range []string{sandbox.InitProgramName, sandbox.IdleProgramName} {
		prog := filepath.Join(filepath.Dir(c.Binary), name)
		if _, err := os.Stat(prog); err == nil {
			if err := linkOrCopy(prog, filepath.Join(filepath.Dir(p), name)); err != nil {
				return "", fmt.Errorf("node binary: %w", err)
			}
		}
	}
	if err := linkOrCopy(c.Binary, p); err != nil {
		return "", fmt.Errorf("node binary: %w", err)
	}
	return p, nil
}

// linkOrCopy makes dst a hard link to src, or a copy of it.
func linkOrCopy(src, dst string) error {
	os.Remove(dst)
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	data, err := os.ReadFile(src)
	if err == nil {
		err = os.WriteFile(dst, data, 0o755)
	}
	return err
}

// waitNodes waits, for all nodes at once, until each node manager
// answers: the agent then has registered and follows central.
func (c *Config) waitNodes(ctx context.Context, st *State) error {
	var wg sync.WaitGroup
	errs := make([]error, len(st.Nodes))
	for i, n := range st.Nodes {
		wg.Go(func() {
			nm := api.NewNMClient(n.NMSocket)
			err := waitReady(ctx, n.Proc, n.Log, 90*time.Second, func(ctx context.Context) error {
				_, err := nm.List(ctx)
				return err
			})
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", n.Hostname, err)
				return
			}
			fmt.Fprintf(c.Out, "orbis testbed: %s at %s registered, following central\n", n.Hostname, n.Addr)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ensureImage builds the busybox reference image in a node's state
// directory, once.
func ensureImage(ctx context.Context, dir string, c *Config) error {
	// The images' ping and traceroute: ping-orbis beside the binary.
	tools := filepath.Join(filepath.Dir(c.Binary), rootfs.NetToolsName)
	if _, err := os.Stat(tools); err != nil {
		tools = ""
	}
	images := rootfs.NewStore(dir, rootfs.Options{NetTools: tools}, c.Log)
	if _, err := images.Get("busybox"); err == nil {
		return nil
	}
	if _, err := images.Build(ctx, "busybox", rootfs.KindBusybox, nil); err != nil {
		return fmt.Errorf("build busybox image: %w", err)
	}
	return nil
}

// ReadAdmin reads the bootstrap admin's credentials of a testbed.
func ReadAdmin(st *State) (central.Admin, error) {
	var adm central.Admin
	b, err := os.ReadFile(st.AdminFile)
	if err != nil {
		return adm, fmt.Errorf("bootstrap admin: %w", err)
	}
	if err := json.Unmarshal(b, &adm); err != nil {
		return adm, fmt.Errorf("bootstrap admin: %w", err)
	}
	return adm, nil
}

// plcClient calls central's PLCAPI as the bootstrap admin.
type plcClient struct {
	rpc  *xmlrpc.Client
	auth map[string]any
}

func newPLC(st *State, adm central.Admin) (*plcClient, error) {
	v, err := st.Verifier()
	if err != nil {
		return nil, err
	}
	rpc := xmlrpc.NewClient(st.CentralURL + "/PLCAPI/")
	rpc.HTTP = v.HTTPClient()
	return &plcClient{rpc: rpc, auth: xmlrpc.PasswordAuth(adm.Email, adm.Password)}, nil
}

// Verifier returns what verifies the testbed's central: its CA file.
func (st *State) Verifier() (*api.Verifier, error) {
	pem, err := os.ReadFile(st.CAFile)
	if err != nil {
		return nil, fmt.Errorf("central's CA: %w", err)
	}
	return api.NewVerifier(api.Trust{CA: pem})
}

// readCAHash returns the fingerprint of the CA certificate in file.
func readCAHash(file string) (string, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("central's CA: %w", err)
	}
	certs, err := api.ParseCA(pem)
	if err != nil {
		return "", fmt.Errorf("central's CA: %w", err)
	}
	return api.CAHash(certs[0]), nil
}

func (p *plcClient) call(ctx context.Context, method string, args ...any) (any, error) {
	r, err := p.rpc.Call(ctx, method, append([]any{p.auth}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return r, nil
}

// first returns field of the first record of a Get call's result.
func first(r any, field string) (any, bool) {
	l, _ := r.([]any)
	if len(l) == 0 {
		return nil, false
	}
	m, _ := l[0].(map[string]any)
	v, ok := m[field]
	return v, ok
}

// nodeToken makes the testbed's site and the node's record at central,
// and returns a one-time registration token, unless the node registered
// in an earlier run ("").
func (p *plcClient) nodeToken(ctx context.Context, n *Node) (string, error) {
	if _, ok, err := rm.LoadCredentials(filepath.Join(n.StateDir, "rm")); err != nil || ok {
		return "", err
	}
	r, err := p.call(ctx, "GetSites", map[string]any{"login_base": Site}, []any{"site_id"})
	if err != nil {
		return "", err
	}
	site, ok := first(r, "site_id")
	if !ok {
		site, err = p.call(ctx, "AddSite", map[string]any{"name": "Orbis testbed", "abbreviated_name": "testbed",
			"login_base": Site, "enabled": true, "max_slices": 100})
		if err != nil {
			return "", err
		}
	}
	if r, err = p.call(ctx, "GetNodes", map[string]any{"hostname": n.Hostname}, []any{"node_id"}); err != nil {
		return "", err
	}
	id, ok := first(r, "node_id")
	if !ok {
		if id, err = p.call(ctx, "AddNode", site, map[string]any{"hostname": n.Hostname, "ip": n.Addr}); err != nil {
			return "", err
		}
	}
	tok, err := p.call(ctx, "AddNodeToken", id)
	if err != nil {
		return "", err
	}
	s, _ := tok.(string)
	if s == "" {
		return "", errors.New("central gave no node token")
	}
	return s, nil
}
