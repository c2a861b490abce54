// Command orbis-lease is the lease broker (package lease): a second
// slice-creation service that runs in a slice of its own, given the node
// manager and a delegation by central (tags nm_controller=1 and
// delegate_*). It is a static program, copied into the broker's slivers
// like any slice's software.
//
// grant and accounts are the operator's: they call the broker with the
// operator's secret, which serve made at its first start in its book
// directory (mode 0600), so anyone who runs commands in the broker's
// sliver is its operator; from elsewhere, give the secret in a file
// (--operator-file) or $ORBIS_LEASE_OPERATOR, with --broker URL.
//
//	orbis-lease serve [--listen :61080] [--dir /var/lib/orbis-lease] [--slot 1h]
//	orbis-lease grant ACCOUNT --credit N [--rotate | --credential-stdin] [--out FILE]
//	                                 the operator opens a buyer's account or
//	                                 changes its credit (share-slots)
//	orbis-lease accounts [--json]    the buyers' accounts
//	orbis-lease pool                 the rcaps this slice owns on the node
//	orbis-lease split --cpu-shares N [--slice S --key FILE]
//	                                 split the pool directly, around the
//	                                 book, and bind the child (or release
//	                                 it): what the node manager allows
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/broker/lease"
	"github.com/orbisproject/orbis/internal/pki"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "orbis-lease:", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError string

func (e usageError) Error() string { return string(e) }

const usage = `usage: orbis-lease serve|grant|accounts|pool|split [FLAGS]`

// defaultDir is the book's directory in the broker's sliver.
const defaultDir = "/var/lib/orbis-lease"

func run(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	if len(args) == 0 {
		return usageError(usage)
	}
	switch args[0] {
	case "grant":
		return grant(ctx, args[1:], in, out)
	case "accounts":
		return accounts(ctx, args[1:], out)
	}
	fs := flag.NewFlagSet("orbis-lease "+args[0], flag.ContinueOnError)
	nmSock := fs.String("nm", api.NMSliverSocket, "the node manager's socket")
	switch args[0] {
	case "serve":
		listen := fs.String("listen", lease.DefaultListen, "TCP address of the API")
		dir := fs.String("dir", defaultDir, "directory of the book and the operator's secret")
		slot := fs.Duration("slot", time.Hour, "slot length")
		sans := fs.String("tls-san", "", "comma-separated host names and addresses of the broker's certificate, besides the listen address")
		insecure := fs.Bool("insecure-http", false, "serve plain HTTP instead of HTTPS: buyers' credentials and tokens cross the network in clear")
		perClient := fs.Int("conns-per-client", lease.DefaultMaxConnsPerClient, "most connections one client (a remote address, a local user) holds at once; more are closed at accept")
		conns := fs.Int("conns", lease.DefaultMaxConns, "most connections of all clients at once")
		if err := fs.Parse(args[1:]); err != nil {
			return usageError(err.Error())
		}
		log := slog.New(slog.NewTextHandler(os.Stderr, nil))
		return lease.Run(ctx, lease.Config{Listen: *listen, Dir: *dir, Slot: *slot, NM: api.NewNMClient(*nmSock),
			SANs: pki.ParseSANs(*sans), InsecureHTTP: *insecure, MaxConnsPerClient: *perClient, MaxConns: *conns, Log: log})
	case "pool":
		if err := fs.Parse(args[1:]); err != nil {
			return usageError(err.Error())
		}
		return pool(ctx, api.NewNMClient(*nmSock), out)
	case "split":
		shares := fs.Int64("cpu-shares", 1, "cpu shares of the child")
		slice := fs.String("slice", "", "bind the child to this slice")
		key := fs.String("key", "", "public key file for the bind")
		if err := fs.Parse(args[1:]); err != nil {
			return usageError(err.Error())
		}
		return split(ctx, api.NewNMClient(*nmSock), *shares, *slice, *key, out)
	}
	return usageError(usage)
}

// pool prints the rcaps the slice owns, without their secrets.
func pool(ctx context.Context, nm *api.NMClient, out io.Writer) error {
	rs, err := nm.Rcaps(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPOOL\tPARENT\tSLIVERS\tCPU_SHARES\tCPU_GUARANTEE\tEND\tBOUND")
	for _, r := range rs.Rcaps {
		fmt.Fprintf(tw, "%s\t%v\t%s\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.Pool, dash(r.Parent), r.Rspec.Slivers,
			r.Rspec.CPUShares, r.Rspec.CPUGuarantee, r.Rspec.End, dash(r.Bound))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// split carves a child off the pool and binds it if asked, around the
// book: the node manager alone decides.
func split(ctx context.Context, nm *api.NMClient, shares int64, slice, keyFile string, out io.Writer) error {
	rs, err := nm.Rcaps(ctx)
	if err != nil {
		return err
	}
	var p *api.RcapInfo
	for i := range rs.Rcaps {
		if rs.Rcaps[i].Pool {
			p = &rs.Rcaps[i]
		}
	}
	if p == nil {
		return errors.New("this slice holds no pool rcap on this node")
	}
	rc, err := nm.Split(ctx, p.Rcap, api.Rspec{CPUShares: shares, Privileges: api.Privileges{CreateSliver: true}})
	if err != nil {
		return err
	}
	q, err := nm.Query(ctx, rc)
	if err != nil {
		return err
	}
	json.NewEncoder(out).Encode(map[string]any{"id": q.ID, "rspec": q.Rspec})
	if slice == "" {
		return nm.Release(ctx, rc) // a probe: nothing is kept
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	if err := nm.Bind(ctx, slice, rc, api.BindAttrs{Keys: []string{strings.TrimSpace(string(key))}}); err != nil {
		nm.Release(ctx, rc)
		return err
	}
	fmt.Fprintf(out, "bound %s\n", slice)
	return nil
}
