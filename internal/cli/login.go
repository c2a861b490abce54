package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/atomicfile"
)

func init() {
	register(&Command{
		Name:    "login",
		Summary: "log in to central and save the API token the other central verbs use",
		Run:     runLogin,
	})
	register(&Command{
		Name:    "logout",
		Summary: "revoke the API token `orbis login` saved, at central, and forget it",
		Run:     runLogout,
	})
}

const loginUsage = `usage: orbis login [--central URL] [--user EMAIL] [--password-stdin]
                   [--ca-hash sha256:HEX | --ca FILE|system | --tofu] [--insecure-http]

Verifies central's certificate by its CA: --ca-hash pins the CA by the
fingerprint ` + "`orbis central`" + ` prints at start, --ca by its certificate
file (central's <data>/tls/ca.crt), --ca system trusts the machine's
public CAs, and --tofu trusts the CA central presents now, printing its
fingerprint to compare. The CA is saved with the token and pins central
for the other verbs. Plain http:// is for a loopback central only, unless
--insecure-http.

Asks for the password without echo on a terminal, or reads its first line
from standard input otherwise (or with --password-stdin), and saves the
central, the user and the API token in ~/.config/orbis/credentials.json
(mode 0600; $ORBIS_CONFIG names another file). The central verbs (site,
person, key, nodes, slice) use them unless given --central and --token,
or $ORBIS_CENTRAL and $ORBIS_TOKEN.`

// credentials are what `orbis login` saves.
type credentials struct {
	Central string `json:"central"`
	Token   string `json:"token"`
	User    string `json:"user"`
	// CA is the PEM of the CA central's certificate was verified by at
	// login, pinned for later calls ("system": the system's roots).
	CA string `json:"ca,omitempty"`
	// InsecureHTTP is set when the login used plain HTTP off loopback.
	InsecureHTTP bool `json:"insecure_http,omitempty"`
}

// credentialsPath is $ORBIS_CONFIG, or credentials.json in the user's
// configuration directory.
func credentialsPath() (string, error) {
	if p := os.Getenv("ORBIS_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("credentials file: %w (set $ORBIS_CONFIG)", err)
	}
	return filepath.Join(dir, "orbis", "credentials.json"), nil
}

// loadCredentials reads the saved credentials; none saved is no error.
func loadCredentials() (credentials, error) {
	var c credentials
	p, err := credentialsPath()
	if err != nil {
		return c, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read credentials: %w", err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("read credentials %s: %w (run `orbis login` again)", p, err)
	}
	return c, nil
}

// saveCredentials writes c where loadCredentials reads it, readable by
// its owner only, replacing the old file at once.
func saveCredentials(c credentials) (string, error) {
	p, err := credentialsPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("save credentials: %w", err)
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", fmt.Errorf("save credentials: %w", err)
	}
	if err := atomicfile.WriteFile(p, append(data, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("save credentials: %w", err)
	}
	return p, nil
}

func runLogin(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("orbis login", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	central := fs.String("central", "", "central's URL (default: $ORBIS_CENTRAL, or the last one logged in to)")
	user := fs.String("user", "", "your email (default: the last one logged in as)")
	pwStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	tf := addTrustFlags(fs)
	tofu := fs.Bool("tofu", false, "trust the CA central presents now (trust on first use) and print its fingerprint")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(env.Stdout, loginUsage)
			return nil
		}
		return &UsageError{Msg: fmt.Sprintf("orbis login: %v\n%s", err, loginUsage)}
	}
	if fs.NArg() > 0 {
		return &UsageError{Msg: loginUsage}
	}
	old, err := loadCredentials()
	if err != nil {
		return err
	}
	c := credentials{Central: firstOf(*central, os.Getenv("ORBIS_CENTRAL"), old.Central), User: firstOf(*user, old.User)}
	if c.Central == "" {
		return &UsageError{Msg: "orbis login: which central? give --central URL (e.g. https://plc.example.org)"}
	}
	if !strings.Contains(c.Central, "://") {
		return &UsageError{Msg: fmt.Sprintf("orbis login: central %q: want a URL such as https://plc.example.org", c.Central)}
	}
	tr, err := tf.trust(c.Central, old)
	if err != nil {
		return err
	}
	if *tofu {
		if tf.given() {
			return &UsageError{Msg: "orbis login: --tofu trusts whatever CA central presents; with --ca or --ca-hash it is not needed"}
		}
		tr = api.Trust{TOFU: true, InsecureHTTP: tf.insecureHTTP}
	}
	v, err := verifier(c.Central, tr, "or --tofu to trust the CA central presents now")
	if err != nil {
		return err
	}
	in := newPrompter(env, *pwStdin)
	if c.User == "" {
		if c.User, err = in.line("Email: "); err != nil {
			return err
		}
	}
	password, err := in.password("Password for " + c.User + ": ")
	if err != nil {
		return err
	}
	if c.Token, err = api.NewCentralClientTLS(c.Central, "", v).Login(ctx, c.User, password); err != nil {
		return err
	}
	c.InsecureHTTP = tr.InsecureHTTP
	switch {
	case !strings.HasPrefix(c.Central, "https:"):
	case tr.System:
		c.CA = "system"
	case v.CA() != nil:
		c.CA = string(api.EncodeCA(v.CA()))
	}
	if *tofu && v.CA() != nil {
		fmt.Fprintf(env.Stdout, "trusted central's CA on first use: %s (compare it with the one orbis central printed)\n", api.CAHash(v.CA()))
	}
	p, err := saveCredentials(c)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "logged in to %s as %s (token saved in %s)\n", c.Central, c.User, p)
	return nil
}

const logoutUsage = `usage: orbis logout [--local]

Revokes the saved API token at central, so that it no longer works for
anyone who copied it, then removes the credentials file. If central
cannot be reached the file is kept (run it again), unless --local is
given: then the file is removed and the token stays valid at central
until it expires.`

func runLogout(ctx context.Context, env *Env, args []string) error {
	flags := flag.NewFlagSet("orbis logout", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	local := flags.Bool("local", false, "only remove the credentials file, even if central cannot be reached")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(env.Stdout, logoutUsage)
			return nil
		}
		return &UsageError{Msg: fmt.Sprintf("orbis logout: %v\n%s", err, logoutUsage)}
	}
	if flags.NArg() > 0 {
		return &UsageError{Msg: logoutUsage}
	}
	c, err := loadCredentials()
	if err != nil && !*local {
		return err
	}
	if err := revokeToken(ctx, c); err != nil && !*local {
		return err
	}
	p, err := credentialsPath()
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove credentials: %w", err)
	}
	fmt.Fprintln(env.Stdout, "logged out")
	return nil
}

// revokeToken revokes the saved token at central. A token central no
// longer knows (expired, revoked) is revoked already.
func revokeToken(ctx context.Context, c credentials) error {
	if c.Token == "" || c.Central == "" {
		return nil
	}
	v, err := verifier(c.Central, c.trust(), "or run orbis logout --local")
	if err != nil {
		return err
	}
	err = api.NewCentralClientTLS(c.Central, c.Token, v).Logout(ctx)
	if ce, ok := errors.AsType[*api.CentralError](err); ok && ce.Code == api.FaultAuth {
		return nil
	}
	if err != nil {
		return fmt.Errorf("revoke the token at %s: %w (the credentials file is kept: run orbis logout again, or orbis logout --local)", c.Central, err)
	}
	return nil
}

// prompter reads the user's answers: from the terminal, without echo for
// the password, or line by line from standard input.
type prompter struct {
	env *Env
	tty *os.File // standard input when it is a terminal and may be used as one
	r   *bufio.Reader
}

func newPrompter(env *Env, forceStdin bool) *prompter {
	p := &prompter{env: env, r: bufio.NewReader(env.Stdin)}
	if f, ok := env.Stdin.(*os.File); ok && !forceStdin && term.IsTerminal(int(f.Fd())) {
		p.tty = f
	}
	return p
}

// line asks for a line of text; without a terminal it must be on
// standard input already.
func (p *prompter) line(prompt string) (string, error) {
	if p.tty == nil {
		return "", &UsageError{Msg: "orbis login: give --user EMAIL (standard input is not a terminal)"}
	}
	fmt.Fprint(p.env.Stderr, prompt)
	s, err := p.r.ReadString('\n')
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("no answer: %w", errOrEOF(err))
	}
	return s, nil
}

// password reads a password without echo from the terminal, or the first
// line of standard input.
func (p *prompter) password(prompt string) (string, error) {
	if p.tty != nil {
		fmt.Fprint(p.env.Stderr, prompt)
		b, err := term.ReadPassword(int(p.tty.Fd()))
		fmt.Fprintln(p.env.Stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	s, err := p.r.ReadString('\n')
	if err != nil && s == "" {
		return "", fmt.Errorf("read password from standard input: %w", errOrEOF(err))
	}
	return strings.TrimRight(s, "\r\n"), nil
}

func errOrEOF(err error) error {
	if err == nil {
		return io.ErrUnexpectedEOF
	}
	return err
}
