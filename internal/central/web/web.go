// Package web is central's portal: the pages where users and PIs sign in,
// see their slices with their expiry, create and renew them, and pick
// their nodes. It is server-rendered (html/template, assets embedded):
// every page works without JavaScript, and it serves none.
//
// The portal has no permission model of its own: every read and change is
// a call of central's method table (plc.Registry) as the signed-in person,
// exactly as PLCAPI and the JSON API make it, so the same roles apply. A
// sign-in is the JSON API's login (same accounts, same throttle) and its
// session is an API token, kept in the store and sent back as a cookie.
//
// Every page carries a Content-Security-Policy that allows only this
// origin's style sheet and forms, and every form a CSRF token; requests
// from another origin are refused before any handler runs.
package web

import (
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/orbisproject/orbis/internal/central/jsonapi"
	"github.com/orbisproject/orbis/internal/central/plc"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// contentSecurityPolicy allows the portal's own style sheet and forms,
// and nothing else: no script, no frame, no other origin.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxFormBytes bounds a form's body.
const maxFormBytes = 64 << 10

// Options configure the portal.
type Options struct {
	// Registry is the method table every page calls through.
	Registry *plc.Registry
	// Auth signs people in and out: the JSON API's login, with its
	// throttle, and its tokens as sessions.
	Auth jsonapi.TokenAuthenticator
	// Registrar adds self-registered persons.
	Registrar Registrar
	// Resetter makes and uses password reset links.
	Resetter Resetter
	// Software tells a slice's software push progress (nil: not shown).
	Software SoftwareStatus
	// Mailer sends password reset links and registration notices (nil:
	// reset links are logged, notices not sent).
	Mailer Mailer
	// PortalURL is the portal's address as people reach it
	// ("https://plc.example.org"), for the links in mails.
	PortalURL string
	// Log receives the portal's records.
	Log *slog.Logger
	// Now is the clock (time.Now if nil), for expiry shown as "in 3 days".
	Now func() time.Time
	// NodeCacheTTL is how long pages reuse the node list and summaries
	// (DefaultNodeCacheTTL if 0; negative: read them for every page).
	NodeCacheTTL time.Duration
}

// Portal serves the portal's pages.
type Portal struct {
	reg  *plc.Registry
	auth jsonapi.TokenAuthenticator
	// registrar adds self-registered persons.
	registrar Registrar
	resetter  Resetter
	software  SoftwareStatus
	mailer    Mailer
	portalURL string
	log       *slog.Logger
	now       func() time.Time
	pages     map[string]*template.Template
	mux       *http.ServeMux
	nodeCache nodeCache
	rowCache  rowHTMLCache
}

// New returns the portal, to be mounted at / on central's mux.
func New(opts Options) *Portal {
	p := &Portal{reg: opts.Registry, auth: opts.Auth, registrar: opts.Registrar, resetter: opts.Resetter, software: opts.Software, mailer: opts.Mailer, portalURL: strings.TrimSuffix(opts.PortalURL, "/"), log: opts.Log, now: opts.Now, mux: http.NewServeMux()}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.nodeCache.ttl = opts.NodeCacheTTL
	if p.nodeCache.ttl == 0 {
		p.nodeCache.ttl = DefaultNodeCacheTTL
	}
	p.pages = parsePages()
	p.routes()
	return p
}

// routes fills the portal's mux.
func (p *Portal) routes() {
	p.mux.Handle("GET /static/", http.FileServerFS(staticFS))
	p.mux.HandleFunc("GET /{$}", p.home)
	p.mux.HandleFunc("GET /signin", p.signinPage)
	p.mux.HandleFunc("POST /signin", p.signin)
	p.mux.HandleFunc("GET /reset", p.resetPage)
	p.mux.HandleFunc("POST /reset", p.requestReset)
	p.mux.HandleFunc("GET /reset/{token}", p.newPasswordPage)
	p.mux.HandleFunc("POST /reset/{token}", p.setPassword)
	p.mux.HandleFunc("GET /register", p.registerPage)
	p.mux.HandleFunc("POST /register", p.register)
	p.mux.HandleFunc("GET /register-site", p.registerSitePage)
	p.mux.HandleFunc("POST /register-site", p.registerSite)
	p.mux.HandleFunc("GET /people", p.signedIn(p.peoplePage))
	p.mux.HandleFunc("POST /people/enable", p.signedIn(p.enablePerson))
	p.mux.HandleFunc("POST /people/roles", p.signedIn(p.changeRole))
	p.mux.HandleFunc("POST /signout", p.signedIn(p.signout))
	p.mux.HandleFunc("GET /slices", p.signedIn(p.slicesPage))
	p.mux.HandleFunc("POST /slices", p.signedIn(p.createSlice))
	p.mux.HandleFunc("GET /slices/{name}", p.signedIn(p.slicePage))
	p.mux.HandleFunc("POST /slices/{name}/renew", p.signedIn(p.renewSlice))
	p.mux.HandleFunc("POST /slices/{name}/edit", p.signedIn(p.editSlice))
	p.mux.HandleFunc("POST /slices/{name}/users", p.signedIn(p.addUser))
	p.mux.HandleFunc("POST /slices/{name}/users/remove", p.signedIn(p.removeUser))
	p.mux.HandleFunc("POST /slices/{name}/tags", p.signedIn(p.addTag))
	p.mux.HandleFunc("POST /slices/{name}/tags/update", p.signedIn(p.updateTag))
	p.mux.HandleFunc("POST /slices/{name}/tags/remove", p.signedIn(p.removeTag))
	p.mux.HandleFunc("POST /slices/{name}/nodes", p.signedIn(p.addNodes))
	p.mux.HandleFunc("POST /slices/{name}/nodes/remove", p.signedIn(p.removeNodes))
	p.mux.HandleFunc("GET /nodes", p.signedIn(p.nodesPage))
	p.mux.HandleFunc("GET /nodes/{node}", p.signedIn(p.nodePage))
	p.mux.HandleFunc("GET /sites", p.signedIn(p.sitesPage))
	p.mux.HandleFunc("POST /node-tokens", p.signedIn(p.nodeToken))
	p.mux.HandleFunc("POST /sites/{site}", p.signedIn(p.updateSite))
	p.mux.HandleFunc("GET /events", p.signedIn(p.eventsPage))
	p.mux.HandleFunc("GET /keys", p.signedIn(p.keysPage))
	p.mux.HandleFunc("POST /keys", p.signedIn(p.addKey))
	p.mux.HandleFunc("POST /keys/remove", p.signedIn(p.removeKey))
	p.mux.HandleFunc("GET /tokens", p.signedIn(p.tokensPage))
	p.mux.HandleFunc("POST /tokens/revoke", p.signedIn(p.revokeToken))
}

// ServeHTTP sets the headers every answer carries, refuses cross-origin
// changes, and serves the page.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if err := crossOrigin.Check(r); err != nil {
		http.Error(w, "refused: this form was sent from another site", http.StatusForbidden)
		return
	}
	p.mux.ServeHTTP(w, r)
}

// crossOrigin refuses a POST that the browser says comes from another
// origin (Sec-Fetch-Site, Origin): the first wall before CSRF tokens.
var crossOrigin = http.NewCrossOriginProtection()

// home sends a signed-in person to their slices, anyone else to sign in.
func (p *Portal) home(w http.ResponseWriter, r *http.Request) {
	if c, _ := p.session(r); c != nil {
		http.Redirect(w, r, "/slices", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
