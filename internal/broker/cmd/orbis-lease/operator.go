package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/orbisproject/orbis/internal/broker/lease"
	"github.com/orbisproject/orbis/internal/pki"
)

// operatorEnv names the variable that may hold the operator's secret,
// for an operator outside the broker's sliver.
const operatorEnv = "ORBIS_LEASE_OPERATOR"

// operatorFlags are the flags of grant and accounts.
type operatorFlags struct {
	broker, dir, secretFile string
}

func (o *operatorFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.broker, "broker", "https://127.0.0.1"+lease.DefaultListen, "the broker's URL (verified by DIR/tls/ca.crt, or by the CA hash after # in the URL)")
	fs.StringVar(&o.dir, "dir", defaultDir, "the broker's book directory, which holds "+lease.OperatorFile)
	fs.StringVar(&o.secretFile, "operator-file", "", "file holding the operator's secret (default: $"+operatorEnv+", else DIR/"+lease.OperatorFile+")")
}

// client is the broker's client with the operator's secret: from
// --operator-file, $ORBIS_LEASE_OPERATOR, or the book directory, in that
// order (never a flag's value: other users see command lines).
func (o *operatorFlags) client() (*lease.Client, error) {
	secret := os.Getenv(operatorEnv)
	if o.secretFile != "" || secret == "" {
		path := o.secretFile
		if path == "" {
			path = filepath.Join(o.dir, lease.OperatorFile)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("operator secret: %w (run this in the broker's sliver, or set $%s)", err, operatorEnv)
		}
		secret = string(data)
	}
	c, err := o.brokerClient()
	if err != nil {
		return nil, err
	}
	return c.WithAuth(strings.TrimSpace(secret)), nil
}

// brokerClient is a client of the broker, verified by the CA hash in its
// URL, or else by the CA in the book directory.
func (o *operatorFlags) brokerClient() (*lease.Client, error) {
	base, tr, err := lease.ParseBroker(o.broker)
	if err != nil {
		return nil, err
	}
	if tr.CAHash == "" && strings.HasPrefix(base, "https:") {
		ca := filepath.Join(lease.TLSDir(o.dir), pki.CAFile)
		if tr.CA, err = os.ReadFile(ca); err != nil {
			return nil, fmt.Errorf("the broker's CA: %w (run this in the broker's sliver, or give --broker URL#sha256:HEX)", err)
		}
	}
	return lease.NewClientTrust(base, tr), nil
}

// parseWithAccount parses flags around one ACCOUNT argument, which may
// come before, between or after the flags.
func parseWithAccount(fs *flag.FlagSet, args []string) (string, error) {
	var names []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		if fs.NArg() == 0 {
			break
		}
		names, args = append(names, fs.Arg(0)), fs.Args()[1:]
	}
	if len(names) != 1 {
		return "", fmt.Errorf("one ACCOUNT, not %d", len(names))
	}
	return names[0], nil
}

const grantUsage = `usage: orbis-lease grant ACCOUNT --credit N [--rotate | --credential-stdin] [--out FILE] [--broker URL] [--dir DIR] [--operator-file FILE]`

// grant opens a buyer's account or changes its credit, and prints (or
// writes to --out) the credential when the account gets a new secret.
func grant(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("orbis-lease grant", flag.ContinueOnError)
	var o operatorFlags
	o.register(fs)
	credit := fs.Int64("credit", 0, "share-slots to add (cpu shares × slots; negative takes unused credit back)")
	rotate := fs.Bool("rotate", false, "give the account a new secret")
	fromStdin := fs.Bool("credential-stdin", false, "set the credential ACCOUNT:SECRET read from standard input (one credential for many brokers)")
	outFile := fs.String("out", "", "write the credential to this new file (mode 0600) instead of printing it")
	name, err := parseWithAccount(fs, args)
	if err != nil {
		return usageError(fmt.Sprintf("%v\n%s", err, grantUsage))
	}
	req := lease.GrantRequest{Account: name, Credit: *credit, Rotate: *rotate}
	if *fromStdin {
		line, err := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read credential: %w", err)
		}
		req.Credential = strings.TrimSpace(line)
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	g, err := c.Grant(ctx, req)
	if err != nil {
		return err
	}
	a := g.Account
	fmt.Fprintf(out, "account %s: credit %d, used %d, left %d share-slots\n", a.Name, a.Credit, a.Used, a.Left)
	switch {
	case g.Credential == "" || *fromStdin:
	case *outFile != "":
		if err := writeNew(*outFile, g.Credential+"\n"); err != nil {
			return err
		}
		fmt.Fprintf(out, "credential written to %s: give it to the buyer (the broker keeps only its hash)\n", *outFile)
	default:
		fmt.Fprintf(out, "credential %s\n(give it to the buyer: the broker keeps only its hash)\n", g.Credential)
	}
	return nil
}

func writeNew(path, data string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write credential: %w", err)
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		return fmt.Errorf("write credential: %w", err)
	}
	return f.Close()
}

// accounts prints every buyer's account.
func accounts(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("orbis-lease accounts", flag.ContinueOnError)
	var o operatorFlags
	o.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return usageError("usage: orbis-lease accounts [--json] [--broker URL] [--dir DIR] [--operator-file FILE]")
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	as, err := c.Accounts(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(as)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tCREDIT\tUSED\tLEFT\tLIVE_LEASES\tCREATED (UTC)")
	for _, a := range as {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", a.Name, a.Credit, a.Used, a.Left, a.Live,
			time.Unix(a.Created, 0).UTC().Format("2006-01-02 15:04:05"))
	}
	return tw.Flush()
}
