package software

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
)

// maxNodeBody bounds a node's list of hashes or reports.
const maxNodeBody = api.MaxHashList * 70

// nodeSlice authenticates a node's call and finds the slice of the path,
// which must be on the node.
func (h *Handler) nodeSlice(w http.ResponseWriter, r *http.Request) (nodeID, sliceID int64, body []byte, ok bool) {
	nodeID, body, err := h.opts.NodeAuth(w, r, maxNodeBody)
	if err != nil {
		h.opts.NodeAuthError(w, r, err)
		return 0, 0, nil, false
	}
	sliceID, _, err = h.opts.Core.NodeSliceSoftware(r.Context(), nodeID, r.PathValue("slice"))
	if err == nil && sliceID == 0 {
		err = refuse(http.StatusNotFound, plc.FaultInvalidArg, "slice %s is not on node %d", r.PathValue("slice"), nodeID)
	}
	if err != nil {
		h.writeError(w, r, err)
		return 0, 0, nil, false
	}
	return nodeID, sliceID, body, true
}

// nodeManifest answers a manifest of a slice on the node.
func (h *Handler) nodeManifest(w http.ResponseWriter, r *http.Request) {
	_, sliceID, _, ok := h.nodeSlice(w, r)
	if !ok {
		return
	}
	hash := r.PathValue("hash")
	if !api.ValidHash(hash) {
		h.writeError(w, r, refuse(http.StatusBadRequest, plc.FaultInvalidArg, "%q is not a sha256 hash", hash))
		return
	}
	data, err := h.opts.Blobs.Manifest(sliceID, hash)
	if errors.Is(err, fs.ErrNotExist) {
		err = refuse(http.StatusNotFound, plc.FaultInvalidArg, "manifest %s of slice %s is not at central (pushed over since?)", hash, r.PathValue("slice"))
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}

// nodeBlobs answers the listed blobs of a slice on the node as frames:
// from memory if the answer is kept (see answers.go), else streamed from
// disk, where a blob central no longer has ends the stream early; the
// node sees the missing frames and retries later.
func (h *Handler) nodeBlobs(w http.ResponseWriter, r *http.Request) {
	_, sliceID, body, ok := h.nodeSlice(w, r)
	if !ok {
		return
	}
	hashes, err := readHashes(bytes.NewReader(body))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	data := h.answers.get(sliceID, hashes, func() ([]byte, error) { return h.opts.Blobs.buildAnswer(sliceID, hashes) })
	if data != nil {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
		return
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	for _, hash := range hashes {
		f, err := h.opts.Blobs.Open(sliceID, hash)
		if err != nil {
			h.opts.Log.Warn("node asked for a blob central lacks", "slice", r.PathValue("slice"), "blob", hash)
			return
		}
		fi, err := f.Stat()
		if err == nil {
			err = api.WriteBlobFrame(bw, hash, fi.Size(), f)
		}
		f.Close()
		if err != nil {
			return // the node went away
		}
	}
}

// nodeReport records a node's software reports.
func (h *Handler) nodeReport(w http.ResponseWriter, r *http.Request) {
	nodeID, body, err := h.opts.NodeAuth(w, r, maxNodeBody)
	if err != nil {
		h.opts.NodeAuthError(w, r, err)
		return
	}
	var reports []api.SoftwareReport
	if err := json.Unmarshal(body, &reports); err != nil || len(reports) > 1000 {
		h.writeError(w, r, refuse(http.StatusBadRequest, plc.FaultInvalidArg, "body: want a list of at most 1000 software reports"))
		return
	}
	for _, rep := range reports {
		if len(rep.Reason) > 4096 {
			rep.Reason = rep.Reason[:4096]
		}
		h.status.report(nodeID, rep)
	}
	w.WriteHeader(http.StatusNoContent)
}

// statusBoard keeps, in memory, when each slice got its manifest and
// each node's last report about it. It is lost with central's restart;
// nodes report again at their next change.
type statusBoard struct {
	// mu guards the following.
	mu     sync.Mutex
	slices map[string]*sliceStatus
	wake   map[string]chan struct{} // closed at the slice's next change
}

type sliceStatus struct {
	sw       api.SliverSoftware
	pushedAt int64
	nodes    map[int64]api.SoftwareNode
}

func newStatusBoard() *statusBoard {
	return &statusBoard{slices: map[string]*sliceStatus{}, wake: map[string]chan struct{}{}}
}

// changed returns a channel closed at the slice's next push or report.
func (b *statusBoard) changed(name string) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := b.wake[name]
	if ch == nil {
		ch = make(chan struct{})
		b.wake[name] = ch
	}
	return ch
}

func (b *statusBoard) wakeLocked(name string) {
	if ch := b.wake[name]; ch != nil {
		close(ch)
		delete(b.wake, name)
	}
}

func (b *statusBoard) sliceLocked(name string) *sliceStatus {
	s := b.slices[name]
	if s == nil {
		s = &sliceStatus{nodes: map[int64]api.SoftwareNode{}}
		b.slices[name] = s
	}
	return s
}

// pushed records a push and returns when the slice got its manifest.
func (b *statusBoard) pushed(name string, sw api.SliverSoftware, changed bool) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sliceLocked(name)
	if changed || s.sw != sw || s.pushedAt == 0 {
		s.sw, s.pushedAt = sw, time.Now().UnixMilli()
		b.wakeLocked(name)
	}
	return s.pushedAt
}

func (b *statusBoard) report(nodeID int64, rep api.SoftwareReport) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sliceLocked(rep.Slice)
	s.nodes[nodeID] = api.SoftwareNode{NodeID: nodeID, SoftwareReport: rep, Updated: time.Now().UnixMilli()}
	b.wakeLocked(rep.Slice)
}

// allDone reports whether each of nodeIDs installed st's manifest or
// failed it (true for a slice with no software).
func allDone(st api.SoftwareStatus, nodeIDs []int64) bool {
	if st.Manifest == "" {
		return true
	}
	done := map[int64]bool{}
	for _, n := range st.Nodes {
		if n.Manifest == st.Manifest && (n.State == api.SoftwareInstalled || n.State == api.SoftwareFailed) {
			done[n.NodeID] = true
		}
	}
	for _, id := range nodeIDs {
		if !done[id] {
			return false
		}
	}
	return true
}

// get returns the slice's status; cur is its current software at central.
func (b *statusBoard) get(name string, cur *api.SliverSoftware) api.SoftwareStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := api.SoftwareStatus{Slice: name, Nodes: []api.SoftwareNode{}}
	if cur != nil {
		st.Manifest, st.Dest = cur.Manifest, cur.Dest
	}
	s := b.slices[name]
	if s == nil {
		return st
	}
	if cur != nil && s.sw == *cur {
		st.PushedAt = s.pushedAt
	}
	for _, n := range s.nodes {
		st.Nodes = append(st.Nodes, n)
	}
	sort.Slice(st.Nodes, func(i, j int) bool { return st.Nodes[i].NodeID < st.Nodes[j].NodeID })
	return st
}
