// Package manifest is the content addressing of software distribution
// (`orbis slice push`, paper 5.3, where updating a slice on 180 nodes took
// 228 s): a tree of files is described by a manifest, and each file's
// bytes are a blob named by their SHA-256.
//
// A manifest lists every entry of the tree, sorted by path: directories
// (mode), regular files (mode, size, SHA-256) and symbolic links (target).
// Its canonical form is its JSON encoding (Encode), and the SHA-256 of
// that is the manifest's hash, the name of the tree's version. Two trees
// with the same content have the same hash, so pushing a tree that did
// not change moves nothing.
//
// The design of the whole path, for the reader who meets it here first:
//
//   - The pusher (internal/cli, `orbis slice push SLICE DIR|ARCHIVE`)
//     builds the manifest (FromDir or FromArchive), asks central which
//     blobs it lacks, uploads only those, then sets the slice's manifest.
//   - Central (internal/central/software) keeps each slice's blobs on
//     disk under its data directory, written atomically and bounded by a
//     per-slice quota, and the slice's current manifest in a slice tag
//     (api.SoftwareTag), which reaches each node as api.Sliver.Software in
//     the list the node long-polls: a push arrives within that latency.
//   - Each node (internal/node/swinstall) fetches the manifest and, in one
//     request, only the blobs missing from its node-wide cache (so a node
//     fetches a blob once whatever the number of slices or pushes), then
//     installs the tree into the sliver through openat2 with
//     RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS as the sliver's root, runs the
//     tree's update hook (.orbis/update) inside the sliver, and reports
//     its progress, which the pusher shows per node.
//
// Everything that reads a manifest or an archive treats it as hostile:
// Validate refuses absolute paths, "..", entries under a non-directory,
// duplicates, device files, links leading out of the tree and sizes over
// the limits, with an error naming the entry.
package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/orbisproject/orbis/api"
)

// Entry types.
const (
	Dir     = "dir"
	File    = "file"
	Symlink = "symlink"
)

// Limits of a tree.
const (
	MaxEntries   = 100000
	MaxPath      = 1024
	MaxTotalSize = 8 << 30
	// ModeMask is the permission bits kept: no setuid, setgid or sticky.
	ModeMask = 0o777
)

// HookPath is the tree's update hook: run in each sliver, as its root,
// after a new version is installed.
const HookPath = ".orbis/update"

// Entry is one path of the tree.
type Entry struct {
	Path   string `json:"path"`
	Type   string `json:"type"`
	Mode   uint32 `json:"mode,omitempty"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Target string `json:"target,omitempty"`
}

// Manifest is a tree: its entries, sorted by path.
type Manifest struct {
	Version int     `json:"version"`
	Entries []Entry `json:"entries"`
}

// ErrInvalid is what every validation error wraps.
var ErrInvalid = errors.New("invalid tree")

func invalid(p, format string, a ...any) error {
	return fmt.Errorf("%w: %q: %s", ErrInvalid, p, fmt.Sprintf(format, a...))
}

// Sort puts the entries in canonical order.
func (m *Manifest) Sort() {
	sort.Slice(m.Entries, func(i, j int) bool { return m.Entries[i].Path < m.Entries[j].Path })
}

// Encode returns the canonical JSON of m; m must be sorted.
func (m *Manifest) Encode() []byte {
	m.Version = 1
	if m.Entries == nil {
		m.Entries = []Entry{}
	}
	b, _ := json.Marshal(m)
	return b
}

// Hash returns the SHA-256 of data in hex.
func Hash(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// Decode parses and validates a manifest and checks that data is its
// canonical form, returning the manifest and its hash.
func Decode(data []byte) (*Manifest, string, error) {
	if len(data) > api.MaxManifestSize {
		return nil, "", fmt.Errorf("%w: manifest of %d bytes (max %d)", ErrInvalid, len(data), api.MaxManifestSize)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, "", fmt.Errorf("%w: manifest: %v", ErrInvalid, err)
	}
	if m.Version != 1 {
		return nil, "", fmt.Errorf("%w: manifest version %d (want 1)", ErrInvalid, m.Version)
	}
	if err := m.Validate(); err != nil {
		return nil, "", err
	}
	if !bytes.Equal(m.Encode(), data) {
		return nil, "", fmt.Errorf("%w: manifest is not in canonical form (sorted entries, compact JSON)", ErrInvalid)
	}
	return &m, Hash(data), nil
}

// Validate checks every entry (see the package doc); m must be sorted.
func (m *Manifest) Validate() error {
	if len(m.Entries) > MaxEntries {
		return fmt.Errorf("%w: %d entries (max %d)", ErrInvalid, len(m.Entries), MaxEntries)
	}
	types := make(map[string]string, len(m.Entries))
	var total int64
	for i, e := range m.Entries {
		if i > 0 && m.Entries[i-1].Path >= e.Path {
			return invalid(e.Path, "entries not sorted, or listed twice")
		}
		if err := CheckPath(e.Path); err != nil {
			return err
		}
		if dir := path.Dir(e.Path); dir != "." && types[dir] != Dir {
			return invalid(e.Path, "its parent %q is not a directory of the tree", dir)
		}
		if err := e.check(); err != nil {
			return err
		}
		types[e.Path] = e.Type
		if total += e.Size; total > MaxTotalSize {
			return invalid(e.Path, "the tree is over %d bytes in all", int64(MaxTotalSize))
		}
	}
	return nil
}

// check validates one entry's type and fields.
func (e *Entry) check() error {
	switch e.Type {
	case Dir:
		if e.Size != 0 || e.SHA256 != "" || e.Target != "" || e.Mode&^ModeMask != 0 {
			return invalid(e.Path, "a directory with a size, hash, target or special mode bits")
		}
	case File:
		switch {
		case e.Size < 0 || e.Size > api.MaxBlobSize:
			return invalid(e.Path, "size %d is over the limit of %d bytes for a file", e.Size, api.MaxBlobSize)
		case !api.ValidHash(e.SHA256):
			return invalid(e.Path, "sha256 %q is not 64 lower-case hex digits", e.SHA256)
		case e.Target != "" || e.Mode&^ModeMask != 0:
			return invalid(e.Path, "a file with a target or special mode bits")
		}
	case Symlink:
		if e.Size != 0 || e.SHA256 != "" || e.Mode != 0 {
			return invalid(e.Path, "a symlink with a size, hash or mode")
		}
		return checkTarget(e.Path, e.Target)
	default:
		return invalid(e.Path, "type %q: only directories, regular files and symlinks can be pushed", e.Type)
	}
	return nil
}

// CheckPath refuses a path that is not a clean relative path inside the
// tree.
func CheckPath(p string) error {
	switch {
	case p == "" || p == ".":
		return invalid(p, "empty path")
	case len(p) > MaxPath:
		return invalid(p, "path over %d bytes", MaxPath)
	case strings.HasPrefix(p, "/"):
		return invalid(p, "absolute path")
	case strings.ContainsRune(p, 0):
		return invalid(p, "NUL in path")
	case p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/.."):
		return invalid(p, "path leads out of the tree (..)")
	case path.Clean(p) != p:
		return invalid(p, "path is not clean (want %q)", path.Clean(p))
	}
	for _, c := range strings.Split(p, "/") {
		if len(c) > 255 {
			return invalid(p, "a path component over 255 bytes")
		}
		if strings.HasPrefix(c, TempPrefix) {
			return invalid(p, "names starting with %s are the installer's", TempPrefix)
		}
	}
	return nil
}

// TempPrefix starts the names of the installer's temporary files; no
// entry may use it.
const TempPrefix = ".orbis-tmp-"

// checkTarget refuses a symlink target that is absolute or leads out of
// the tree from the link's directory.
func checkTarget(p, target string) error {
	switch {
	case target == "" || len(target) > MaxPath || strings.ContainsRune(target, 0):
		return invalid(p, "symlink target empty, over %d bytes or with a NUL", MaxPath)
	case strings.HasPrefix(target, "/"):
		return invalid(p, "symlink to the absolute path %q leads out of the tree", target)
	}
	if j := path.Join(path.Dir(p), target); j == ".." || strings.HasPrefix(j, "../") {
		return invalid(p, "symlink to %q leads out of the tree", target)
	}
	return nil
}

// Blobs returns the distinct blobs of the files, in manifest order, with
// their sizes.
func (m *Manifest) Blobs() (hashes []string, sizes map[string]int64) {
	sizes = map[string]int64{}
	for _, e := range m.Entries {
		if e.Type != File {
			continue
		}
		if _, ok := sizes[e.SHA256]; !ok {
			hashes = append(hashes, e.SHA256)
			sizes[e.SHA256] = e.Size
		}
	}
	return hashes, sizes
}

// Lookup returns the entry at p, nil if there is none.
func (m *Manifest) Lookup(p string) *Entry {
	i := sort.Search(len(m.Entries), func(i int) bool { return m.Entries[i].Path >= p })
	if i < len(m.Entries) && m.Entries[i].Path == p {
		return &m.Entries[i]
	}
	return nil
}

// Diff is what changes from one version to the next.
type Diff struct {
	// Write are the entries of new that old lacks or has otherwise
	// (type, mode, content or target), in manifest order (parents first).
	Write []Entry
	// Remove are the paths of old that new lacks, children first.
	Remove []Entry
}

// Compare returns the diff from old (nil: nothing installed) to new.
func Compare(old, new *Manifest) Diff {
	var d Diff
	for _, e := range new.Entries {
		if old == nil {
			d.Write = append(d.Write, e)
		} else if o := old.Lookup(e.Path); o == nil || *o != e {
			d.Write = append(d.Write, e)
		}
	}
	if old != nil {
		for i := len(old.Entries) - 1; i >= 0; i-- {
			if o := old.Entries[i]; new.Lookup(o.Path) == nil {
				d.Remove = append(d.Remove, o)
			}
		}
	}
	return d
}
