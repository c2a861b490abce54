package verbs

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"strings"

	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/central/mail"
	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/upgrade"
	"github.com/orbisproject/orbis/internal/cli"
	"github.com/orbisproject/orbis/internal/pki"
)

func runCentral(ctx context.Context, env *cli.Env, args []string) error {
	fs := flag.NewFlagSet("orbis central", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var cfg central.Config
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8780", "address to listen on")
	fs.StringVar(&cfg.DataDir, "data", "/var/lib/orbis-central", "data directory (SQLite database, admin.json)")
	fs.StringVar(&cfg.DB, "db", "", "PostgreSQL URL (postgres://...); empty: SQLite in the data directory")
	fs.StringVar(&cfg.AdminEmail, "admin-email", "admin@localhost", "bootstrap admin created on first start (password in <data>/admin.json)")
	fs.Int64Var(&cfg.SiteShares, "site-shares", 0, "shares each site receives (0: the default, 1000)")
	fs.IntVar(&cfg.TrafficDays, "traffic-days", central.DefaultTrafficDays, "days the traffic archive keeps the nodes' traffic")
	fs.Int64Var(&cfg.UpgradeMaxBytes, "upgrade-max-bytes", upgrade.DefaultMaxSize, "largest node agent build an admin may publish (orbis nodes upgrade), in bytes")
	fs.Int64Var(&cfg.TrafficMaxRows, "traffic-max-rows", central.DefaultTrafficMaxRows, "rows the traffic archive keeps at most (the oldest go first)")
	fs.IntVar(&cfg.Login.Burst, "login-burst", plc.DefaultLoginBurst, "failed password logins one client address may make for one account before it must wait")
	fs.IntVar(&cfg.Login.WideBurst, "login-wide-burst", plc.DefaultLoginWideBurst, "failed password logins one client address may make over all accounts; past as many on one account from all addresses, each address's failure there costs the whole -login-burst")
	fs.DurationVar(&cfg.Login.Refill, "login-refill", plc.DefaultLoginRefill, "how often each login throttle regains one failed login")
	fs.IntVar(&cfg.Login.MaxTracked, "login-tracked", plc.DefaultLoginTracked, "most addresses, accounts and address-account pairs the login throttle remembers, each (the least recent are forgotten)")
	fs.IntVar(&cfg.MaxPending, "max-pending", plc.DefaultMaxPending, "persons who registered themselves in the portal that one site holds waiting for its PI to enable them; past it, registration at the site is refused")
	fs.DurationVar(&cfg.MaxLeaseLength, "lease-max-length", plc.DefaultMaxLeaseLength, "longest lease of a reservable node one AddLeases or UpdateLeases may make (rounded to the hour; at least one hour): a leased node is refused to every other slice")
	fs.IntVar(&cfg.MaxSessions, "max-sessions", plc.DefaultMaxSessions, "PLCAPI sessions (GetSession, AddSession) one person or node holds; past it, a new one ends the one that would expire first")
	proxies := fs.String("trusted-proxies", "", "comma-separated addresses or CIDR prefixes of reverse proxies whose X-Forwarded-For names the client (empty: none; the TCP peer is the client)")
	fs.StringVar(&cfg.TLS.CertFile, "tls-cert", "", "PEM certificate (and its chain) to serve HTTPS with, reloaded when it changes; empty: a CA central makes in <data>/tls")
	fs.StringVar(&cfg.TLS.KeyFile, "tls-key", "", "PEM key of -tls-cert")
	sans := fs.String("tls-san", "", "comma-separated host names and addresses the generated certificate is for, besides the listen address (every address of this machine when it listens on all)")
	fs.BoolVar(&cfg.PlainHTTP, "http", false, "serve plain HTTP instead of HTTPS, on a loopback address only (behind a TLS proxy on this machine)")
	insecure := fs.Bool("insecure-http", false, "serve plain HTTP on any address: passwords, tokens and nodes' secrets cross the network in clear")
	fs.StringVar(&cfg.Mail.Addr, "smtp", "", "SMTP relay (host:port) to send password reset links and registration notices through, with STARTTLS when it offers it; empty: no mail, reset links are printed to the log")
	fs.StringVar(&cfg.Mail.From, "smtp-from", "", "sender of central's mails (default: orbis@ this machine's host name)")
	fs.StringVar(&cfg.Mail.Username, "smtp-user", "", "user name to authenticate to the relay with (AUTH PLAIN, only over TLS or to loopback); empty: no authentication")
	smtpPass := fs.String("smtp-password-file", "", "file holding the password of -smtp-user")
	fs.DurationVar(&cfg.Mail.Timeout, "smtp-timeout", mail.DefaultTimeout, "longest one mail's delivery may take; a mail not sent is logged with its link")
	fs.IntVar(&cfg.Mail.QueueLen, "smtp-queue", mail.DefaultQueueLen, "mails waiting to be sent at most; past it a mail is dropped and logged with its link")
	fs.StringVar(&cfg.PortalURL, "portal-url", "", "the portal's address as people and nodes reach it, for the links in mails and the central URL in GenerateNodeConfFile's node configurations (default: https:// and -addr)")
	debug := fs.Bool("debug", false, "log debug records")
	if err := fs.Parse(args); err != nil {
		return &cli.UsageError{Msg: err.Error()}
	}
	cfg.TLS.SANs = pki.ParseSANs(*sans)
	if *insecure {
		cfg.PlainHTTP, cfg.InsecureHTTP = true, true
	}
	var err error
	if cfg.TrustedProxies, err = plc.ParseTrustedProxies(*proxies); err != nil {
		return &cli.UsageError{Msg: "-trusted-proxies: " + err.Error()}
	}
	if *smtpPass != "" {
		b, err := os.ReadFile(*smtpPass)
		if err != nil {
			return &cli.UsageError{Msg: "-smtp-password-file: " + err.Error()}
		}
		cfg.Mail.Password = strings.TrimRight(string(b), "\r\n")
	}
	cfg.Log = logger(env.Stderr, *debug, slog.LevelInfo)
	return central.Run(ctx, cfg)
}
