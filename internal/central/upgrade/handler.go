package upgrade

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/push"
	"github.com/orbisproject/orbis/internal/central/store"
)

// Options configure a Handler.
type Options struct {
	Builds *Builds
	// Authenticate returns the person of an API token.
	Authenticate func(ctx context.Context, token string) (*plc.Caller, error)
	Store        store.Store
	// NodeAuth authenticates a node request as the node channel does,
	// answering its errors itself (push.Handler.AuthenticateNode); and
	// NodeAuthError answers them.
	NodeAuth      func(w http.ResponseWriter, r *http.Request, limit int64) (int64, []byte, error)
	NodeAuthError func(w http.ResponseWriter, r *http.Request, err error)
	// Wait returns when the node's list version passes since, or ctx
	// ends (push.Hub.Wait): a node's waiting upgrade call waits on it, and
	// a publish bumps the offered nodes' versions (store BumpNodes, which
	// reaches every central process on the database), so the node learns
	// of the build at once, whichever process it asks. Nil: upgrade calls
	// answer at once.
	Wait func(ctx context.Context, nodeID, since int64) (int64, error)
	// LongPoll is the longest a waiting upgrade call is held
	// (push.LongPoll if 0).
	LongPoll time.Duration
	Log      *slog.Logger
}

// Handler serves api.UpgradePath and api.NodeUpgradePath.
type Handler struct {
	opts Options
	mux  *http.ServeMux
}

// NewHandler returns the handler.
func NewHandler(opts Options) *Handler {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.LongPoll <= 0 {
		opts.LongPoll = push.LongPoll
	}
	h := &Handler{opts: opts, mux: http.NewServeMux()}
	h.mux.HandleFunc("POST "+api.UpgradePath, h.publish)
	h.mux.HandleFunc("GET "+api.NodeUpgradePath, h.node(h.offer))
	h.mux.HandleFunc("GET "+api.NodeUpgradePath+"/binary", h.node(h.binary))
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// publish is an admin's POST of a build.
func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		writeError(w, http.StatusUnauthorized, api.FaultAuth, "publishing an upgrade needs Authorization: Bearer <token> (orbis login)")
		return
	}
	c, err := h.opts.Authenticate(r.Context(), strings.TrimSpace(token))
	if err != nil {
		writeError(w, http.StatusUnauthorized, api.FaultAuth, "authentication refused")
		return
	}
	if !c.IsAdmin() {
		writeError(w, http.StatusForbidden, api.FaultPermission, "only an admin may publish a node upgrade")
		return
	}
	q := r.URL.Query()
	ids, err := h.nodeIDs(r.Context(), q.Get("nodes"))
	if err != nil {
		h.answer(w, err)
		return
	}
	percent := 0
	if p := q.Get("percent"); p != "" {
		if percent, err = strconv.Atoi(p); err != nil || percent < 1 || percent > 100 {
			writeError(w, http.StatusBadRequest, api.FaultInvalidArg, fmt.Sprintf("percent %q: want 1 to 100", p))
			return
		}
		if len(ids) > 0 {
			writeError(w, http.StatusBadRequest, api.FaultInvalidArg, "give nodes or percent, not both")
			return
		}
	}
	if r.ContentLength > h.opts.Builds.MaxSize() {
		writeError(w, http.StatusRequestEntityTooLarge, api.FaultInvalidArg, fmt.Sprintf("the build is larger than %d bytes (central's --upgrade-max-bytes)", h.opts.Builds.MaxSize()))
		return
	}
	u, err := h.opts.Builds.Publish(r.Context(), q.Get("version"), q.Get("arch"), r.Body, ids, percent)
	if err != nil {
		h.answer(w, err)
		return
	}
	h.opts.Log.Info("node upgrade published", "by", c.Email, "version", u.Version, "sha256", u.SHA256, "nodes", len(ids), "percent", percent)
	if err := h.wake(r.Context(), fmt.Sprintf("person %d", c.PersonID), u); err != nil {
		// Published all the same: nodes learn of it at their next check.
		h.opts.Log.Warn("wake nodes for the upgrade", "err", err)
	}
	writeJSON(w, u)
}

// wake bumps the list version of the nodes u is offered to, which wakes
// their waiting upgrade calls in every central process.
func (h *Handler) wake(ctx context.Context, actor string, u api.Upgrade) error {
	return h.opts.Store.Update(context.WithoutCancel(ctx), actor, func(t store.Tx) error {
		ids := u.NodeIDs
		if len(ids) == 0 {
			nodes, err := t.Nodes(store.Query{})
			if err != nil {
				return err
			}
			ids = ids[:0]
			for _, n := range nodes {
				if OfferedTo(u, n.NodeID) {
					ids = append(ids, n.NodeID)
				}
			}
		}
		return t.BumpNodes(ids)
	})
}

// nodeIDs resolves a comma-separated list of node host names (or ids).
func (h *Handler) nodeIDs(ctx context.Context, list string) ([]int64, error) {
	if list == "" {
		return nil, nil
	}
	var ids []int64
	err := h.opts.Store.View(ctx, func(t store.Tx) error {
		for _, name := range strings.Split(list, ",") {
			cond := store.Cond{Field: "hostname", Op: store.Eq, Value: name}
			if id, err := strconv.ParseInt(name, 10, 64); err == nil {
				cond = store.Cond{Field: "node_id", Op: store.Eq, Value: id}
			}
			nodes, err := t.Nodes(store.Query{Conds: []store.Cond{cond}, Limit: 1})
			if err != nil {
				return err
			}
			if len(nodes) == 0 {
				return badInput("no node %q", name)
			}
			ids = append(ids, nodes[0].NodeID)
		}
		return nil
	})
	return ids, err
}

// node authenticates a node call.
func (h *Handler) node(fn func(w http.ResponseWriter, r *http.Request, id int64)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, _, err := h.opts.NodeAuth(w, r, 0)
		if err != nil {
			h.opts.NodeAuthError(w, r, err)
			return
		}
		fn(w, r, id)
	}
}

// offer records the node's version and answers the build offered to it;
// with have=SHA (the build the node was last offered, "" for none), once
// the offer is another, or after the long-poll period.
func (h *Handler) offer(w http.ResponseWriter, r *http.Request, id int64) {
	q := r.URL.Query()
	if v := q.Get("version"); v != "" {
		if err := h.recordVersion(r.Context(), id, v); err != nil {
			h.opts.Log.Warn("record node version", "node", id, "err", err)
		}
	}
	u, ok, err := h.offerTo(r.Context(), id, q.Get("have"), q.Has("have"))
	if err != nil {
		if r.Context().Err() == nil {
			h.answer(w, err)
		}
		return
	}
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, u)
}

// offerTo returns the build offered to node id, waiting first, if wait,
// until it is not the one whose SHA-256 is have, for at most LongPoll.
// Each round reads the node's list version before the offer: a publish
// stores the build before it bumps the version, so a publish the read
// missed wakes the wait.
func (h *Handler) offerTo(ctx context.Context, id int64, have string, wait bool) (api.Upgrade, bool, error) {
	wctx, cancel := context.WithTimeout(ctx, h.opts.LongPoll)
	defer cancel()
	for {
		var since int64
		if wait && h.opts.Wait != nil {
			err := h.opts.Store.View(ctx, func(t store.Tx) error {
				v, err := t.NodeVersions([]int64{id})
				since = v[id]
				return err
			})
			if err != nil {
				return api.Upgrade{}, false, err
			}
		}
		u, ok, err := h.opts.Builds.Current(ctx)
		if err != nil {
			return api.Upgrade{}, false, err
		}
		ok = ok && OfferedTo(u, id)
		u.NodeIDs, u.Percent = nil, 0 // other nodes are none of this one's business
		if !ok {
			u = api.Upgrade{}
		}
		if !wait || h.opts.Wait == nil || !strings.EqualFold(u.SHA256, have) {
			return u, ok, nil
		}
		if _, err := h.opts.Wait(wctx, id, since); err != nil {
			return u, ok, ctx.Err() // the period ended (or the node went away)
		}
	}
}

// recordVersion sets the node's version in the store if it changed.
func (h *Handler) recordVersion(ctx context.Context, id int64, v string) error {
	if len(v) > 64 {
		return errors.New("version longer than 64 bytes")
	}
	return h.opts.Store.Update(ctx, "node-version", func(t store.Tx) error {
		nodes, err := t.Nodes(store.Query{Conds: []store.Cond{{Field: "node_id", Op: store.Eq, Value: id}}, Limit: 1})
		if err != nil || len(nodes) == 0 || nodes[0].Version == v {
			return err
		}
		nodes[0].Version = v
		return t.UpdateNode(&nodes[0])
	})
}

// binary streams the build to a node it is offered to.
func (h *Handler) binary(w http.ResponseWriter, r *http.Request, id int64) {
	sha := r.URL.Query().Get("sha256")
	u, ok, err := h.opts.Builds.Current(r.Context())
	if err != nil {
		h.answer(w, err)
		return
	}
	if !ok || u.SHA256 != sha || !OfferedTo(u, id) {
		writeError(w, http.StatusNotFound, api.FaultInvalidArg, "no such build offered to this node")
		return
	}
	f, err := h.opts.Builds.Open(r.Context(), sha)
	if errors.Is(err, fs.ErrNotExist) {
		writeError(w, http.StatusNotFound, api.FaultInvalidArg, "no such build offered to this node")
		return
	}
	if err != nil {
		h.answer(w, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(u.Size, 10))
	if _, err := io.Copy(w, f); err != nil {
		h.opts.Log.Debug("send build", "node", id, "err", err)
	}
}

// answer writes err: bad input as 400, anything else as 500.
func (h *Handler) answer(w http.ResponseWriter, err error) {
	var in *inputError
	if errors.As(err, &in) {
		writeError(w, http.StatusBadRequest, api.FaultInvalidArg, in.msg)
		return
	}
	if errors.Is(err, fs.ErrNotExist) {
		writeError(w, http.StatusNotFound, api.FaultInvalidArg, "not found")
		return
	}
	h.opts.Log.Error("upgrade call", "err", err)
	writeError(w, http.StatusInternalServerError, api.FaultDB, "central failed to store the build")
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}
