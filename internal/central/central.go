// Package central is `orbis central`, the paper's PlanetLab Central: it
// opens the store, builds the core service, and serves PLCAPI (XML-RPC at
// /PLCAPI/), the JSON API (/api/v1/) and the nodes' channel
// (/api/v1/node/) on one HTTP listener.
package central

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/atomicfile"
	"github.com/orbisproject/orbis/internal/central/jsonapi"
	"github.com/orbisproject/orbis/internal/central/mail"
	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/push"
	"github.com/orbisproject/orbis/internal/central/store"
	"github.com/orbisproject/orbis/internal/central/web"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
	"github.com/orbisproject/orbis/internal/httpserve"
	"github.com/orbisproject/orbis/internal/pki"
)

// Config configures central.
type Config struct {
	// Addr is where central listens (default 127.0.0.1:8780).
	Addr string
	// DataDir holds the SQLite database and admin.json.
	DataDir string
	// DB is a postgres:// URL; empty means SQLite in DataDir.
	DB string
	// AdminEmail names the bootstrap admin, created with a random
	// password (written to DataDir/admin.json) if no admin exists.
	AdminEmail string
	// SiteShares is how many shares each site receives.
	SiteShares int64
	// SoftwareQuota bounds each slice's pushed software at central, in
	// bytes (0: software.DefaultQuota).
	SoftwareQuota int64
	// TrafficDays and TrafficMaxRows bound the traffic archive (0: 30
	// days, DefaultTrafficMaxRows rows); see archive.go.
	TrafficDays    int
	TrafficMaxRows int64
	// Login throttles failed password logins (zero fields: defaults).
	Login plc.LoginLimits
	// MaxPending bounds the self-registered persons waiting at one site
	// (0: plc.DefaultMaxPending).
	MaxPending int
	// MaxLeaseLength bounds one lease (0: plc.DefaultMaxLeaseLength);
	// MaxSessions the sessions one person holds (0:
	// plc.DefaultMaxSessions).
	MaxLeaseLength time.Duration
	MaxSessions    int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (none: the TCP peer is the client).
	TrustedProxies plc.TrustedProxies
	// UpgradeMaxBytes bounds a published node agent build (0:
	// upgrade.DefaultMaxSize; flag --upgrade-max-bytes).
	UpgradeMaxBytes int64
	// TLS is where Run's certificate comes from: the operator's files,
	// or (by default) a CA central makes in DataDir/tls, with a server
	// certificate for the listen address and TLS.SANs.
	TLS pki.Config
	// PlainHTTP makes Run serve plain HTTP, on a loopback address only
	// unless InsecureHTTP.
	PlainHTTP, InsecureHTTP bool
	// Mail is the SMTP relay that password reset links and registration
	// notices are sent through (Mail.Addr empty: none; reset links are
	// logged).
	Mail mail.Config
	// PortalURL is the portal's address as people reach it, for links in
	// mails (default: https:// or http:// and Addr).
	PortalURL string
	// Log receives central's records.
	Log *slog.Logger
	// caHash is the hash of the CA RunOn serves by, which nodes pin.
	caHash string
}

func (c *Config) defaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8780"
	}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/orbis-central"
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.PortalURL == "" {
		c.PortalURL = "https://" + c.Addr
		if c.PlainHTTP {
			c.PortalURL = "http://" + c.Addr
		}
	}
}

// Central is an opened central service.
type Central struct {
	Store   store.Store
	Service *plc.Service
	hub     *push.Hub
	mailer  *mail.Mailer
	archive *trafficArchive
	handler http.Handler
	log     *slog.Logger
}

// Open opens the store and builds the service and its handlers.
func Open(ctx context.Context, cfg Config) (*Central, error) {
	cfg.defaults()
	if err := cfg.checkPlain(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("central data dir: %w", err)
	}
	st, err := store.Open(ctx, cfg.DB, cfg.DataDir, cfg.Log)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	c := &Central{Store: st, log: cfg.Log}
	src := &nodeSource{st: st}
	c.hub = push.NewHub(src, cfg.Log)
	if cfg.Mail.Addr != "" {
		if c.mailer, err = mail.New(cfg.Mail, cfg.Log); err != nil {
			st.Close()
			return nil, err
		}
	}
	po := plc.Options{Store: st, Log: cfg.Log, SiteShares: cfg.SiteShares, Login: cfg.Login, MaxPending: cfg.MaxPending,
		MaxLeaseLength: cfg.MaxLeaseLength, MaxSessions: cfg.MaxSessions, OnChange: c.hub.Notify,
		CentralURL: cfg.PortalURL, CAHash: cfg.caHash}
	if c.mailer != nil { // not a nil *mail.Mailer in the interface
		po.Mailer = c.mailer
	}
	c.Service, err = plc.New(ctx, po)
	if err != nil {
		st.Close()
		return nil, err
	}
	src.svc = c.Service
	mux := http.NewServeMux()
	mux.Handle("/PLCAPI/", xmlrpc.New(c.Service.Registry(), c.Service, cfg.Log))
	nodeChan := push.NewHandler(src, c.hub, push.Options{Log: cfg.Log})
	mux.Handle(api.NodePath, nodeChan)
	sw, err := c.mountSoftware(mux, cfg, nodeChan)
	if err != nil {
		st.Close()
		return nil, err
	}
	if err := c.mountUpgrade(ctx, mux, cfg, nodeChan); err != nil {
		st.Close()
		return nil, err
	}
	c.mountAudit(mux, cfg, src)
	mux.Handle("/api/v1/", jsonapi.New(c.Service.Registry(), c.Service, cfg.Log))
	wo := web.Options{Registry: c.Service.Registry(), Auth: c.Service, Registrar: c.Service, Resetter: c.Service, Software: sw, PortalURL: cfg.PortalURL, Log: cfg.Log}
	if c.mailer != nil {
		wo.Mailer = c.mailer
	}
	mux.Handle("/", web.New(wo))
	c.handler = cfg.TrustedProxies.Handler(mux)
	if cfg.AdminEmail != "" {
		if err := c.bootstrap(ctx, cfg); err != nil {
			st.Close()
			return nil, err
		}
	}
	return c, nil
}

// Handler serves every API of central.
func (c *Central) Handler() http.Handler { return c.handler }

// Serve answers requests on l until ctx is done, running the expiry loop,
// the lease boundaries' loop and the node channel's version poll
// alongside.
func (c *Central) Serve(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c.Service.ExpireLoop(ctx)
	go c.Service.LeaseLoop(ctx)
	go c.hub.Run(ctx)
	go c.archive.pruneLoop(ctx)
	if c.mailer != nil {
		go c.mailer.Run(ctx)
	}
	srv := &http.Server{
		Handler:           c.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: nodes' long-polls last up to 25 s. They end
		// with ctx, through the requests' base context, so that shutting
		// down does not wait for them.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(c.log.Handler(), slog.LevelWarn),
	}
	return httpserve.Serve(ctx, srv, l, 5*time.Second)
}

// Close closes the store.
func (c *Central) Close() error { return c.Store.Close() }

// Run opens central and serves it on cfg.Addr until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	cfg.defaults()
	if err := cfg.checkPlain(); err != nil {
		return err
	}
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return RunOn(ctx, cfg, l)
}

// RunOn is Run on a listener of the caller's, whose address replaces
// cfg.Addr; it closes l. Unless cfg.PlainHTTP it serves HTTPS.
func RunOn(ctx context.Context, cfg Config, l net.Listener) error {
	defer l.Close()
	cfg.Addr = l.Addr().String() // before defaults, which derive PortalURL from it
	cfg.defaults()
	if err := cfg.checkPlain(); err != nil {
		return err
	}
	url := cfg.scheme() + "://" + cfg.Addr
	if cfg.PlainHTTP {
		cfg.Log.Warn("central serves plain HTTP: passwords and tokens cross the network in clear", "url", url)
	} else {
		var srv *pki.Server
		var err error
		if l, srv, err = cfg.listenTLS(l); err != nil {
			return err
		}
		if h := srv.CAHash(); h != "" {
			cfg.caHash = h
			cfg.Log.Info("central's CA: nodes and `orbis login --ca-hash` pin it", "ca_hash", h, "ca_file", srv.CAFile)
		}
	}
	c, err := Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	cfg.Log.Info("central listening", "url", url, "data", cfg.DataDir)
	if err := c.Serve(ctx, l); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Admin is the bootstrap admin's credentials, as admin.json holds them.
type Admin struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Central  string `json:"central,omitempty"`
}

// AdminFile is where the bootstrap admin's credentials are kept.
func AdminFile(dataDir string) string { return filepath.Join(dataDir, "admin.json") }

// bootstrap creates the first admin, once: its password is random and
// kept in admin.json (mode 0600) for the operator to read.
func (c *Central) bootstrap(ctx context.Context, cfg Config) error {
	path := AdminFile(cfg.DataDir)
	if _, err := os.Stat(path); err == nil {
		return nil // made by an earlier run
	}
	// Another central process on the same database may have made the
	// admin: its password is in that process's admin.json, and one
	// written here would not work.
	if has, err := c.hasAdmin(ctx); err != nil || has {
		if has {
			c.log.Info("an admin exists in the database already: no admin.json written (another central made it)", "path", path)
		}
		return err
	}
	b := make([]byte, 12)
	rand.Read(b)
	adm := Admin{Email: cfg.AdminEmail, Password: hex.EncodeToString(b), Central: cfg.scheme() + "://" + cfg.Addr}
	if err := c.Service.Bootstrap(ctx, adm.Email, adm.Password); err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	data, _ := json.MarshalIndent(adm, "", "  ")
	return atomicfile.WriteFile(path, append(data, '\n'), 0o600)
}

// hasAdmin reports whether the database has an admin.
func (c *Central) hasAdmin(ctx context.Context) (bool, error) {
	var has bool
	err := c.Store.View(ctx, func(tx store.Tx) error {
		admins, err := tx.Persons(store.Query{Conds: []store.Cond{{Field: "role_ids", Op: store.Eq, Value: int64(api.RoleAdmin)}}, Limit: 1})
		has = len(admins) > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	return has, nil
}
