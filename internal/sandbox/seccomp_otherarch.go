//go:build linux && !amd64 && !arm64

package sandbox

// No filter is written for this architecture: Start refuses to run a
// sliver without one.
const (
	auditArch     = 0
	foreignABIBit = 0
)

var deniedSyscalls = commonDenied
