package api

import (
	"context"
	"crypto/ed25519"
	"debug/elf"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Node upgrades: an admin publishes a node agent build at central; nodes
// fetch it over the node channel, check central's Ed25519 signature of its
// version, architecture, size and SHA-256, replace their agent and re-exec.
//
//	POST /api/v1/upgrade?version=V&arch=A[&nodes=H1,H2|&percent=N]
//	     the binary as the body; an admin's "Authorization: Bearer T";
//	     answers 200 with the Upgrade published
//	GET  /api/v1/node/upgrade?version=V[&have=H]   signed as the node
//	     channel's; V is the agent's own build version, which central
//	     records; answers 200 with the node's Upgrade, or 204 if none is
//	     offered to it. With have (the SHA-256 of the build the node was
//	     last offered, empty for none) central holds the answer until the
//	     offer is another, or for its long-poll period (like slivers?since)
//	GET  /api/v1/node/upgrade/binary?sha256=H   the build's bytes

// UpgradePath is where an admin publishes a build; NodeUpgradePath is
// where a node asks for its own.
const (
	UpgradePath     = "/api/v1/upgrade"
	NodeUpgradePath = NodePath + "upgrade"
)

// Upgrade describes a published node agent build.
type Upgrade struct {
	Version string `json:"version"`
	// Arch is the GOARCH the build is for (amd64, arm64).
	Arch   string `json:"arch"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Signature is central's Ed25519 signature of UpgradeMessage, and
	// PublicKey central's key (both base64 in JSON). A node keeps the key
	// it first got over the pinned channel and refuses another.
	Signature []byte `json:"signature"`
	PublicKey []byte `json:"public_key"`
	// NodeIDs are the nodes offered the build (none: Percent of all).
	NodeIDs []int64 `json:"node_ids,omitempty"`
	Percent int     `json:"percent,omitempty"`
}

// UpgradeMessage is what central signs of a build.
func UpgradeMessage(u Upgrade) []byte {
	return []byte("orbis-upgrade-v1\n" + u.Version + "\n" + u.Arch + "\n" +
		strconv.FormatInt(u.Size, 10) + "\n" + strings.ToLower(u.SHA256) + "\n")
}

// VerifyUpgrade reports whether u carries key's valid signature.
func VerifyUpgrade(u Upgrade, key ed25519.PublicKey) bool {
	return len(key) == ed25519.PublicKeySize && ed25519.Verify(key, UpgradeMessage(u), u.Signature)
}

// ELFMachines is the ELF machine of each architecture (GOARCH) a build
// may be for.
var ELFMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386,
	"arm": elf.EM_ARM, "riscv64": elf.EM_RISCV, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390,
}

// ELFArch returns the architecture (GOARCH) of the ELF executable r.
func ELFArch(r io.ReaderAt) (string, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return "", fmt.Errorf("not an ELF executable: %w", err)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return "", fmt.Errorf("an ELF %s, not an executable", f.Type)
	}
	for arch, m := range ELFMachines {
		if m == f.Machine {
			return arch, nil
		}
	}
	return "", fmt.Errorf("an executable for %s, which Orbis does not run on", f.Machine)
}

// CheckELF refuses a build that is not an ELF executable for arch.
func CheckELF(r io.ReaderAt, arch string) error {
	got, err := ELFArch(r)
	if err != nil {
		return fmt.Errorf("the build is %w", err)
	}
	if got != arch {
		return fmt.Errorf("the build is for %s, not %s", got, arch)
	}
	return nil
}

// Upgrade reports the node's agent version to central and returns the
// build central offers the node, if any (ok false: none).
func (c *NodeClient) Upgrade(ctx context.Context, version string) (u Upgrade, ok bool, err error) {
	op := "upgrade?version=" + url.QueryEscape(version)
	u.Version = "" // a 204 leaves u empty
	if err := c.do(ctx, http.MethodGet, op, nil, true, &u); err != nil {
		return u, false, err
	}
	return u, u.SHA256 != "", nil
}

// WaitUpgrade is Upgrade answered once the build offered differs from
// the one whose SHA-256 is have ("": none), or after central's long-poll
// period with the offer as it is.
func (c *NodeClient) WaitUpgrade(ctx context.Context, version, have string) (u Upgrade, ok bool, err error) {
	// Central answers within its long-poll period; a connection silent
	// for much longer than that is dead.
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	op := "upgrade?version=" + url.QueryEscape(version) + "&have=" + url.QueryEscape(have)
	if err := c.do(ctx, http.MethodGet, op, nil, true, &u); err != nil {
		return u, false, err
	}
	return u, u.SHA256 != "", nil
}

// UpgradeBinary streams the build whose SHA-256 is sha to w, at most max
// bytes.
func (c *NodeClient) UpgradeBinary(ctx context.Context, sha string, max int64, w io.Writer) error {
	uri := NodeUpgradePath + "/binary?sha256=" + url.QueryEscape(sha)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+uri, nil)
	if err != nil {
		return fmt.Errorf("upgrade binary: %w", err)
	}
	if err := c.sign(req, http.MethodGet, uri, nil); err != nil {
		return err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("upgrade binary: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return &NodeCallError{Status: res.StatusCode, Msg: "central upgrade binary: " + nodeErrorText(data, res.Status)}
	}
	n, err := io.Copy(w, io.LimitReader(res.Body, max+1))
	if err != nil {
		return fmt.Errorf("upgrade binary: %w", err)
	}
	if n > max {
		return fmt.Errorf("upgrade binary: larger than %d bytes", max)
	}
	return nil
}

// PublishUpgrade publishes the node agent build read from body (size
// bytes) for nodes (host names; none: every node) or percent of the nodes
// (0: all), and returns what central published.
func (c *CentralClient) PublishUpgrade(ctx context.Context, version, arch string, body io.Reader, size int64, nodes []string, percent int) (Upgrade, error) {
	q := url.Values{"version": {version}, "arch": {arch}}
	if len(nodes) > 0 {
		q.Set("nodes", strings.Join(nodes, ","))
	}
	if percent > 0 {
		q.Set("percent", strconv.Itoa(percent))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+UpgradePath+"?"+q.Encode(), body)
	if err != nil {
		return Upgrade{}, fmt.Errorf("publish upgrade: %w", err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	var u Upgrade
	if err := c.sendLong(req, "publish upgrade", "upgrade", &u); err != nil {
		return Upgrade{}, err
	}
	return u, nil
}
