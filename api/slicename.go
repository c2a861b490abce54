package api

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// A SliceName is PlanetLab's slice name: the site's login_base, "_", a
// name. The rule also keeps every path, cgroup and host name made from it
// safe: no '/', no leading '.', no "..".
type SliceName string

// MaxSliceName is the longest slice name, in bytes.
const MaxSliceName = 64

// SliceNameSyntax describes a slice name for error messages and help.
const SliceNameSyntax = `<login_base>_<name> (^[a-z0-9.]+_[a-zA-Z0-9_.]+$, at most 64, no leading "." nor "..")`

// ErrSliceName is wrapped by the errors of ParseSliceName.
var ErrSliceName = errors.New("not a slice name")

var sliceNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9.]+_[a-zA-Z0-9_.]+$`) })

// ParseSliceName returns s as a SliceName, or an error wrapping
// ErrSliceName that says what is wrong.
func ParseSliceName(s string) (SliceName, error) {
	switch {
	case s == "":
		return "", fmt.Errorf("%w: empty", ErrSliceName)
	case len(s) > MaxSliceName:
		return "", fmt.Errorf("%w: %d characters (max %d)", ErrSliceName, len(s), MaxSliceName)
	case !SliceName(s).Valid():
		return "", fmt.Errorf("%w: %q (want %s)", ErrSliceName, s, SliceNameSyntax)
	}
	return SliceName(s), nil
}

// Valid reports whether n is a slice name.
func (n SliceName) Valid() bool {
	s := string(n)
	return len(s) <= MaxSliceName && sliceNameRE().MatchString(s) && s[0] != '.' && !strings.Contains(s, "..")
}

// Site is the name's login_base prefix.
func (n SliceName) Site() string {
	site, _, _ := strings.Cut(string(n), "_")
	return site
}

func (n SliceName) String() string { return string(n) }
