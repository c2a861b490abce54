package api

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Software distribution (`orbis slice push`, paper 5.3): a slice's tree
// of files is content-addressed. Its manifest lists every path with its
// mode, size and SHA-256; the manifest's own SHA-256 names the version.
// Central keeps each slice's blobs and its current manifest; nodes learn
// the manifest through Sliver.Software in the list they long-poll, fetch
// what their node-wide cache lacks and install the tree into the sliver.
//
// A person's calls (Authorization: Bearer T, a person who may use the
// slice):
//
//	POST /api/v1/software/SLICE/missing   body ["sha256hex", ...]
//	                                      -> {"missing": [...]} (what central lacks)
//	POST /api/v1/software/SLICE/blobs     body: blob frames (WriteBlobFrame)
//	                                      -> {"stored": N, "bytes": B}
//	PUT  /api/v1/software/SLICE/manifest?dest=/opt/x
//	                                      body: the manifest (canonical JSON)
//	                                      -> SoftwarePushResult
//	GET  /api/v1/software/SLICE/status[?wait=DURATION]
//	                                      -> SoftwareStatus; with wait (at most
//	                                      MaxStatusWait), once every node of the
//	                                      slice installed the current manifest
//	                                      or failed, or when wait is up
//
// A node's calls (signed as the node channel's, for a slice on the node):
//
//	GET  /api/v1/node/software/SLICE/manifest/HASH   -> the manifest bytes
//	POST /api/v1/node/software/SLICE/blobs           body ["sha256hex", ...]
//	                                                 -> blob frames
//	POST /api/v1/node/software/report                body []SoftwareReport -> 204

// SoftwarePath is the prefix of a person's software calls.
const SoftwarePath = "/api/v1/software/"

// NodeSoftwarePath is the prefix of a node's software calls.
const NodeSoftwarePath = NodePath + "software/"

// SoftwareTag is the slice tag in which central keeps a slice's current
// software: "MANIFEST_HASH DEST".
const SoftwareTag = "orbis_software"

// DefaultSoftwareDest is where a slice's tree goes in its slivers when
// the push names no destination.
func DefaultSoftwareDest(slice string) string { return "/opt/" + slice }

// SliverSoftware is the software a sliver should have: the manifest
// (by hash) installed at Dest.
type SliverSoftware struct {
	Manifest string `json:"manifest"`
	Dest     string `json:"dest"`
}

// ParseSoftwareTag reads the value of SoftwareTag; nil if it is malformed.
func ParseSoftwareTag(v string) *SliverSoftware {
	hash, dest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !ValidHash(hash) || !strings.HasPrefix(dest, "/") {
		return nil
	}
	return &SliverSoftware{Manifest: hash, Dest: dest}
}

// String is the SoftwareTag value of s.
func (s SliverSoftware) String() string { return s.Manifest + " " + s.Dest }

// ValidHash reports whether h is a SHA-256 in 64 lower-case hex digits.
func ValidHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	b, err := hex.DecodeString(h)
	return err == nil && len(b) == 32 && hex.EncodeToString(b) == h
}

// SoftwarePushResult is central's answer to a new manifest.
type SoftwarePushResult struct {
	Manifest string `json:"manifest"`
	Dest     string `json:"dest"`
	// Changed is false when the slice already had this manifest and
	// destination: nothing was sent to the nodes.
	Changed bool `json:"changed"`
	// NodeIDs are the slice's nodes, which will install it.
	NodeIDs []int64 `json:"node_ids"`
	// PushedAt is when the slice got this manifest (Unix ms).
	PushedAt int64 `json:"pushed_at"`
}

// Software states a node reports.
const (
	SoftwareFetching   = "fetching"
	SoftwareInstalling = "installing"
	SoftwareHook       = "hook"
	SoftwareInstalled  = "installed"
	SoftwareFailed     = "failed"
)

// SoftwareReport is what a node tells central about one slice's software.
type SoftwareReport struct {
	Slice      string `json:"slice"`
	Manifest   string `json:"manifest"`
	State      string `json:"state"`
	BlobsDone  int    `json:"blobs_done"`
	BlobsTotal int    `json:"blobs_total"`
	// BytesFetched is what the node fetched from central for this
	// manifest (blobs and the manifest itself).
	BytesFetched int64 `json:"bytes_fetched"`
	// HookExit is the update hook's exit status; nil: no hook ran.
	HookExit *int   `json:"hook_exit,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// SoftwareNode is one node's last report, as central shows it.
type SoftwareNode struct {
	NodeID   int64  `json:"node_id"`
	Hostname string `json:"hostname"`
	SoftwareReport
	// Updated is when central got the report (Unix ms).
	Updated int64 `json:"updated"`
}

// SoftwareStatus is a slice's current software and its nodes' reports.
type SoftwareStatus struct {
	Slice    string         `json:"slice"`
	Manifest string         `json:"manifest"`
	Dest     string         `json:"dest"`
	PushedAt int64          `json:"pushed_at"`
	NodeIDs  []int64        `json:"node_ids"`
	Nodes    []SoftwareNode `json:"nodes"`
}

// Limits of software distribution.
const (
	// MaxBlobSize bounds one file of a tree.
	MaxBlobSize = 1 << 30
	// MaxManifestSize bounds a manifest's canonical JSON.
	MaxManifestSize = 32 << 20
	// MaxHashList bounds a list of hashes in one call.
	MaxHashList = 100000
	// MaxStatusWait bounds how long a status call waits for the nodes.
	MaxStatusWait = 30 * time.Second
)

// WriteBlobFrame writes one blob as "HASH SIZE\n" and its bytes, copied
// from r (exactly size bytes).
func WriteBlobFrame(w io.Writer, hash string, size int64, r io.Reader) error {
	if _, err := fmt.Fprintf(w, "%s %d\n", hash, size); err != nil {
		return err
	}
	n, err := io.CopyN(w, r, size)
	if err != nil {
		return fmt.Errorf("blob %s: %d of %d bytes: %w", hash, n, size, err)
	}
	return nil
}

// ErrFrame is a malformed blob stream.
var ErrFrame = errors.New("malformed blob stream")

// ReadBlobFrame reads the next frame's header; io.EOF at the end of the
// stream. The caller then reads exactly size bytes from r.
func ReadBlobFrame(r *bufio.Reader) (hash string, size int64, err error) {
	line, err := r.ReadString('\n')
	if err == io.EOF && line == "" {
		return "", 0, io.EOF
	}
	if err != nil || len(line) > 100 {
		return "", 0, fmt.Errorf("%w: header %q", ErrFrame, line)
	}
	hash, s, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
	size, perr := strconv.ParseInt(s, 10, 64)
	if !ok || !ValidHash(hash) || perr != nil || size < 0 || size > MaxBlobSize {
		return "", 0, fmt.Errorf("%w: header %q", ErrFrame, line)
	}
	return hash, size, nil
}
