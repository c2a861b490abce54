package admin

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/internal/peercred"
)

// Caller is who made a call, as the kernel vouches for it.
type Caller struct {
	// HostUID and PID are the caller's user and process IDs on the host.
	HostUID uint32
	PID     int
	// Slice is the caller's slice; "" for the host (UID 0, the operator).
	Slice string
	// UID is the caller's user ID inside its sliver (-1 if the process
	// left before it could be read); SliverPID its PID there (0: unknown).
	UID       int
	SliverPID int
}

type callerKey struct{}

func callerFromContext(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// withPeer records the credentials of a Unix socket's peer in the
// connection's context (peercred.Server.Context); none where they cannot
// be read, so every call on it is refused.
func withPeer(ctx context.Context, cred peercred.Cred, ok bool) context.Context {
	if !ok {
		return ctx
	}
	return context.WithValue(ctx, callerKey{}, Caller{HostUID: cred.UID, PID: int(cred.PID), UID: int(cred.UID)})
}

// connKey names whom a connection counts against: the slice whose UID
// range holds the peer's UID, or that UID.
func (s *Service) connKey(c peercred.Cred) string {
	if slice, _ := s.cfg.Authorize(c.UID); slice != "" {
		return "slice:" + slice
	}
	return "uid:" + strconv.FormatUint(uint64(c.UID), 10)
}

// uidInside maps the caller's host UID into its user namespace, through
// the caller's uid_map as the host reads it ("inside outside count"
// lines); -1 if it cannot.
func (s *Service) uidInside(c Caller) int {
	f, err := os.Open(filepath.Join(s.cfg.ProcRoot, strconv.Itoa(c.PID), "uid_map"))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var in, out, n uint64
		if _, err := fmt.Sscan(sc.Text(), &in, &out, &n); err != nil {
			continue
		}
		if u := uint64(c.HostUID); u >= out && u-out < n {
			return int(in + u - out)
		}
	}
	return -1
}

// sliverPID is pid's PID in its innermost PID namespace (the NSpid line
// of its status), or 0.
func sliverPID(procRoot string, pid int) int {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0
			}
			n, _ := strconv.Atoi(f[len(f)-1])
			return n
		}
	}
	return 0
}
