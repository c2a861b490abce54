// Package software is central's side of software distribution (`orbis
// slice push`; the whole design is in package manifest's doc): a
// per-slice, quota'd, content-addressed blob store on disk (Blobs), the
// person calls that upload what central lacks and set a slice's manifest,
// the node calls that fetch manifests and blobs and report progress, and
// the per-node status a pusher follows (see api.SoftwarePath for the
// wire contract).
//
// A person may push to a slice exactly when they may set its tags
// (plc's policy: admins, PIs of its site, its users). The slice's current
// manifest is its api.SoftwareTag tag, set through plc, which wakes the
// slice's nodes' long-polls. A node may fetch a slice's files only while
// the slice is on that node.
package software

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/store"
	"github.com/orbisproject/orbis/internal/manifest"
)

// Core is what the handler needs of central's core service;
// *plc.Service is one.
type Core interface {
	AuthenticateToken(ctx context.Context, token string) (*plc.Caller, error)
	SliceForSoftware(ctx context.Context, c *plc.Caller, ref any) (*api.Slice, *api.SliverSoftware, error)
	SetSliceSoftware(ctx context.Context, c *plc.Caller, sliceID int64, sw api.SliverSoftware) (*api.Slice, bool, error)
	NodeSliceSoftware(ctx context.Context, nodeID int64, name string) (int64, *api.SliverSoftware, error)
}

// NodeAuth authenticates a node request as the node channel does and
// returns the node and the body, read whole up to limit; an error is
// answered by writing it (see push.Handler.AuthenticateNode).
type NodeAuth func(w http.ResponseWriter, r *http.Request, limit int64) (int64, []byte, error)

// Options configure a Handler.
type Options struct {
	Core     Core
	Store    store.Store // node hostnames for the status
	Blobs    *Blobs
	NodeAuth NodeAuth
	// NodeAuthError answers a NodeAuth error (the node channel's form).
	NodeAuthError func(w http.ResponseWriter, r *http.Request, err error)
	Log           *slog.Logger
}

// DefaultQuota is a slice's software quota when central sets none.
const DefaultQuota = 1 << 30

// Handler serves the person calls at api.SoftwarePath and the node calls
// at api.NodeSoftwarePath.
type Handler struct {
	opts    Options
	status  *statusBoard
	answers *answers
	mux     *http.ServeMux
}

// NewHandler returns the handler.
func NewHandler(opts Options) *Handler {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{opts: opts, status: newStatusBoard(), answers: newAnswers(), mux: http.NewServeMux()}
	p, n := api.SoftwarePath, api.NodeSoftwarePath
	h.mux.HandleFunc("POST "+p+"{slice}/missing", h.person(h.missing))
	h.mux.HandleFunc("POST "+p+"{slice}/blobs", h.person(h.upload))
	h.mux.HandleFunc("PUT "+p+"{slice}/manifest", h.person(h.setManifest))
	h.mux.HandleFunc("GET "+p+"{slice}/status", h.person(h.getStatus))
	h.mux.HandleFunc("GET "+n+"{slice}/manifest/{hash}", h.nodeManifest)
	h.mux.HandleFunc("POST "+n+"{slice}/blobs", h.nodeBlobs)
	h.mux.HandleFunc("POST "+n+"report", h.nodeReport)
	return h
}

// ServeHTTP routes a software call.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// callError is a refusal with a status and a PLCAPI fault code.
type callError struct {
	status, code int
	msg          string
}

func (e *callError) Error() string { return e.msg }

func refuse(status, code int, format string, a ...any) *callError {
	return &callError{status: status, code: code, msg: fmt.Sprintf(format, a...)}
}

// writeError answers err in the JSON API's form.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ce *callError
	var f *plc.Fault
	switch {
	case errors.As(err, &ce):
	case errors.As(err, &f):
		ce = &callError{status: faultStatus(f.Code), code: f.Code, msg: f.Msg}
	case errors.Is(err, store.ErrNotFound):
		ce = refuse(http.StatusNotFound, plc.FaultInvalidArg, "%v", err)
	default:
		h.opts.Log.Error("software call", "path", r.URL.Path, "err", err)
		ce = refuse(http.StatusInternalServerError, plc.FaultAPI, "central failed to answer (see its log)")
	}
	writeJSON(w, ce.status, map[string]any{"error": map[string]any{"code": ce.code, "message": ce.msg}})
}

func faultStatus(code int) int {
	switch code {
	case plc.FaultAuth:
		return http.StatusUnauthorized
	case plc.FaultPermission:
		return http.StatusForbidden
	case plc.FaultInvalidArg, plc.FaultArgCount:
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// personCall is a person's call on one slice they may push to.
type personCall struct {
	caller *plc.Caller
	slice  *api.Slice
	sw     *api.SliverSoftware
}

// person authenticates the bearer token and checks the caller may push
// to the slice named in the path.
func (h *Handler) person(fn func(http.ResponseWriter, *http.Request, *personCall) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			h.writeError(w, r, refuse(http.StatusUnauthorized, plc.FaultAuth, "software calls need Authorization: Bearer <token> (orbis login)"))
			return
		}
		ctx := r.Context()
		c, err := h.opts.Core.AuthenticateToken(ctx, strings.TrimSpace(token))
		if err == nil {
			var pc personCall
			pc.caller = c
			pc.slice, pc.sw, err = h.opts.Core.SliceForSoftware(ctx, c, r.PathValue("slice"))
			if err == nil {
				err = fn(w, r, &pc)
			}
		}
		if err != nil {
			h.writeError(w, r, err)
		}
	}
}

// readHashes reads a JSON list of hashes of at most api.MaxHashList.
func readHashes(r io.Reader) ([]string, error) {
	var hashes []string
	dec := json.NewDecoder(io.LimitReader(r, api.MaxHashList*70))
	if err := dec.Decode(&hashes); err != nil {
		return nil, refuse(http.StatusBadRequest, plc.FaultInvalidArg, "body: want a JSON list of sha256 hashes: %v", err)
	}
	if len(hashes) > api.MaxHashList {
		return nil, refuse(http.StatusBadRequest, plc.FaultInvalidArg, "over %d hashes in one call", api.MaxHashList)
	}
	for _, s := range hashes {
		if !api.ValidHash(s) {
			return nil, refuse(http.StatusBadRequest, plc.FaultInvalidArg, "%q is not a sha256 hash (64 lower-case hex digits)", s)
		}
	}
	return hashes, nil
}

// missing answers which of the listed blobs central lacks.
func (h *Handler) missing(w http.ResponseWriter, r *http.Request, pc *personCall) error {
	hashes, err := readHashes(r.Body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"missing": h.opts.Blobs.Missing(pc.slice.SliceID, hashes)})
	return nil
}

// upload stores a stream of blob frames, each checked against its hash
// and the slice's quota.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request, pc *personCall) error {
	// A large batch takes longer than the server's read timeout.
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(30 * time.Minute))
	br := bufio.NewReaderSize(r.Body, 64<<10)
	var stored int
	var bytes int64
	for {
		hash, size, err := api.ReadBlobFrame(br)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return refuse(http.StatusBadRequest, plc.FaultInvalidArg, "upload: %v", err)
		}
		isNew, err := h.opts.Blobs.Put(pc.slice.SliceID, hash, size, br)
		switch {
		case errors.Is(err, ErrQuota):
			return refuse(http.StatusRequestEntityTooLarge, plc.FaultInvalidArg, "slice %s: %v", pc.slice.Name, err)
		case errors.Is(err, ErrCorrupt):
			return refuse(http.StatusBadRequest, plc.FaultInvalidArg, "upload: %v", err)
		case err != nil:
			return err
		}
		if isNew {
			stored++
			bytes += size
		}
	}
	h.opts.Log.Info("software blobs stored", "slice", pc.slice.Name, "actor", pc.caller.Actor(), "blobs", stored, "bytes", bytes)
	writeJSON(w, http.StatusOK, map[string]any{"stored": stored, "bytes": bytes})
	return nil
}

// setManifest makes the uploaded manifest the slice's current one, once
// every blob it names is at central.
func (h *Handler) setManifest(w http.ResponseWriter, r *http.Request, pc *personCall) error {
	dest := r.URL.Query().Get("dest")
	if dest == "" {
		dest = api.DefaultSoftwareDest(pc.slice.Name)
	}
	if err := CheckDest(dest); err != nil {
		return refuse(http.StatusBadRequest, plc.FaultInvalidArg, "%v", err)
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, api.MaxManifestSize+1))
	if err != nil {
		return refuse(http.StatusBadRequest, plc.FaultInvalidArg, "read manifest: %v", err)
	}
	m, hash, err := manifest.Decode(data)
	if err != nil {
		return refuse(http.StatusBadRequest, plc.FaultInvalidArg, "%v", err)
	}
	blobs, _ := m.Blobs()
	if miss := h.opts.Blobs.Missing(pc.slice.SliceID, blobs); len(miss) > 0 {
		return refuse(http.StatusConflict, plc.FaultInvalidArg, "%d blob(s) of the manifest are not at central (first %s): upload them first", len(miss), miss[0])
	}
	if err := h.opts.Blobs.PutManifest(pc.slice.SliceID, hash, data); err != nil {
		if errors.Is(err, ErrQuota) {
			return refuse(http.StatusRequestEntityTooLarge, plc.FaultInvalidArg, "slice %s: %v", pc.slice.Name, err)
		}
		return err
	}
	sw := api.SliverSoftware{Manifest: hash, Dest: dest}
	sl, changed, err := h.opts.Core.SetSliceSoftware(r.Context(), pc.caller, pc.slice.SliceID, sw)
	if err != nil {
		return err
	}
	at := h.status.pushed(sl.Name, sw, changed)
	h.opts.Blobs.Collect(sl.SliceID, m, hash, time.Hour)
	h.opts.Log.Info("software pushed", "slice", sl.Name, "actor", pc.caller.Actor(), "manifest", hash, "dest", dest, "changed", changed, "nodes", len(sl.NodeIDs))
	writeJSON(w, http.StatusOK, api.SoftwarePushResult{Manifest: hash, Dest: dest, Changed: changed, NodeIDs: orEmpty(sl.NodeIDs), PushedAt: at})
	return nil
}

func orEmpty(ids []int64) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}

// CheckDest refuses a destination that is not a clean absolute path, is
// the root, or is in the sliver's kernel file systems.
func CheckDest(dest string) error {
	switch {
	case !strings.HasPrefix(dest, "/") || path.Clean(dest) != dest || dest == "/":
		return fmt.Errorf("dest %q: want a clean absolute path other than /", dest)
	case len(dest) > 512 || strings.ContainsAny(dest, "\x00\n\t "):
		return fmt.Errorf("dest %q: over 512 bytes, or with a space or control character", dest)
	}
	for _, p := range []string{"/proc", "/sys", "/dev", "/run/orbis"} {
		if dest == p || strings.HasPrefix(dest, p+"/") {
			return fmt.Errorf("dest %q: inside %s", dest, p)
		}
	}
	return nil
}

// getStatus answers the slice's software and its nodes' reports; with
// ?wait=DURATION, once every node is done with the current manifest or
// when that time is up.
func (h *Handler) getStatus(w http.ResponseWriter, r *http.Request, pc *personCall) error {
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return refuse(http.StatusBadRequest, plc.FaultInvalidArg, "wait=%q: want a duration such as 500ms", v)
		}
		wait = min(d, api.MaxStatusWait)
	}
	st := h.waitStatus(r.Context(), pc, wait)
	st.NodeIDs = orEmpty(pc.slice.NodeIDs)
	names, err := h.hostnames(r.Context(), st.NodeIDs)
	if err != nil {
		return err
	}
	for i := range st.Nodes {
		st.Nodes[i].Hostname = names[st.Nodes[i].NodeID]
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// waitStatus returns the slice's status once every node is done with
// its current manifest, or when wait is up or ctx ends.
func (h *Handler) waitStatus(ctx context.Context, pc *personCall, wait time.Duration) api.SoftwareStatus {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		changed := h.status.changed(pc.slice.Name)
		st := h.status.get(pc.slice.Name, pc.sw)
		if wait <= 0 || allDone(st, pc.slice.NodeIDs) {
			return st
		}
		select {
		case <-changed:
		case <-timer.C:
			wait = 0
		case <-ctx.Done():
			wait = 0
		}
	}
}

func (h *Handler) hostnames(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := map[int64]string{}
	if len(ids) == 0 || h.opts.Store == nil {
		return out, nil
	}
	list := make([]any, len(ids))
	for i, id := range ids {
		list[i] = id
	}
	err := h.opts.Store.View(ctx, func(tx store.Tx) error {
		nodes, err := tx.Nodes(store.Query{Conds: []store.Cond{{Field: "node_id", Op: store.Eq, Value: list}}})
		for _, n := range nodes {
			out[n.NodeID] = n.Hostname
		}
		return err
	})
	return out, err
}
