package api

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// An AttributeTag is a slice tag that sets no rspec field: the node reads
// it from the sliver's attributes.
type AttributeTag struct {
	Name string
	// Kind is Flag (0 or 1) or Text.
	Kind Kind
	Role int // as Resource.Role
	// MaxLen bounds a Text value, in bytes (0: central's bound on every
	// tag value).
	MaxLen   int
	Enforcer Enforcer
	// Aliases are older names the node also reads.
	Aliases []string
	// Valid, if set, checks a Text value further.
	Valid func(string) error
	Doc   string
}

// AttributeTags are the slice tags the node reads as attributes.
var AttributeTags = []AttributeTag{
	{Name: "initscript", Kind: Text, Role: RoleUser, MaxLen: MaxInitScript, Enforcer: EnforceInitScript,
		Doc: "the script the sliver runs when it boots"},
	{Name: "enabled", Kind: Flag, Role: RoleUser, Enforcer: EnforceEnabled,
		Doc: "0 stops the sliver and refuses logins; its files stay"},
	{Name: "vref", Kind: Text, Role: RoleUser, Enforcer: EnforceImage, Aliases: []string{"image"}, Valid: CheckImageName,
		Doc: "the sliver's reference image (PlanetLab's name; the node also reads image)"},
	{Name: SoftwareTag, Kind: Text, Role: RoleUser, Enforcer: EnforceSoftware, Valid: checkSoftwareTag,
		Doc: "the slice's software, MANIFEST_HASH DEST, as `orbis slice push` sets it"},
}

func checkSoftwareTag(v string) error {
	if ParseSoftwareTag(v) == nil {
		return fmt.Errorf("%q is not MANIFEST_HASH DEST (a SHA-256 in hex, a space, an absolute path)", v)
	}
	return nil
}

// A RefusedTag is a PlanetLab slice tag central refuses: nothing on an
// Orbis node enforces it, so accepting it would promise what no node keeps.
type RefusedTag struct {
	Name, Why string
}

// RefusedTags are the PlanetLab tags central refuses by name. Any other
// tag ending in _soft or _hard that the table does not name (an rlimit
// PlanetLab set) is refused too: the node enforces only those it names.
var RefusedTags = []RefusedTag{
	{"net_share", "the node shapes by net_min_rate and net_max_rate only, not by a share of the link"},
	{"vsys", "Orbis has no vsys scripts; privileged operations go through the node manager (nm_controller) or the admin slice"},
	{"capabilities", "slivers run with a fixed set of capabilities in their user namespace; raw sockets go through the node's safe raw sockets"},
}

// A TagSpec is what the contract says of one slice tag.
type TagSpec struct {
	Name string
	Kind Kind
	Role int // as Resource.Role
	// Resource is the rspec field the tag sets (nil for an attribute),
	// Tag its unit, scale and bound; Delegate says it sets the field of
	// Rspec.Delegated.
	Resource *Resource
	Tag      Tag
	Delegate bool
	// Attribute is the attribute tag, when Resource is nil.
	Attribute *AttributeTag
}

var tagIndex = sync.OnceValue(func() map[string]TagSpec {
	idx := map[string]TagSpec{}
	for i := range Resources {
		r := &Resources[i]
		for _, t := range r.Tags {
			idx[t.Name] = TagSpec{Name: t.Name, Kind: r.Kind, Role: r.Role, Resource: r, Tag: t}
		}
		if r.DelegateTag != "" {
			t := Tag{Name: r.DelegateTag, Unit: r.Unit, Scale: 1}
			if len(r.Tags) > 0 {
				t = r.Tags[0]
				t.Name = r.DelegateTag
			}
			idx[t.Name] = TagSpec{Name: t.Name, Kind: r.Kind, Role: r.Role, Resource: r, Tag: t, Delegate: true}
		}
	}
	for i := range AttributeTags {
		a := &AttributeTags[i]
		idx[a.Name] = TagSpec{Name: a.Name, Kind: a.Kind, Role: a.Role, Attribute: a}
	}
	return idx
})

// LookupTag returns what the contract says of the tag name. known is
// false for a tag the contract does not name (a free-form tag anyone who
// may change the slice sets, which no node reads); the error, wrapping
// ErrTagRefused, is for a tag that central refuses.
func LookupTag(name string) (spec TagSpec, known bool, err error) {
	if spec, ok := tagIndex()[name]; ok {
		return spec, true, nil
	}
	for _, r := range RefusedTags {
		if r.Name == name {
			return TagSpec{}, false, fieldErrorf(name, ErrTagRefused, "not supported: %s (docs/resources.md)", r.Why)
		}
	}
	if strings.HasSuffix(name, "_soft") || strings.HasSuffix(name, "_hard") {
		return TagSpec{}, false, fieldErrorf(name, ErrTagRefused,
			"not supported: of PlanetLab's rlimit tags the node enforces only %s (docs/resources.md)", strings.Join(rlimitTags(), ", "))
	}
	return TagSpec{Name: name, Kind: Text, Role: RoleUser}, false, nil
}

// TagSpecs returns every tag of the contract, sorted by name.
func TagSpecs() []TagSpec {
	var out []TagSpec
	for _, s := range tagIndex() {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b TagSpec) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// rlimitTags are the _soft and _hard tags the table names.
func rlimitTags() []string {
	var out []string
	for _, s := range TagSpecs() {
		if strings.HasSuffix(s.Name, "_soft") || strings.HasSuffix(s.Name, "_hard") {
			out = append(out, s.Name)
		}
	}
	return out
}

// MaxValue is the largest number the tag takes, in its unit.
func (s TagSpec) MaxValue() int64 {
	switch {
	case s.Kind == Flag:
		return 1
	case s.Tag.Max > 0:
		return s.Tag.Max
	case s.Resource != nil && s.Tag.Scale > 0:
		return s.Resource.Max / s.Tag.Scale
	}
	return 0
}

// Check checks a value of the tag.
func (s TagSpec) Check(value string) error {
	switch s.Kind {
	case Text:
		a := s.Attribute
		switch {
		case a == nil:
		case a.MaxLen > 0 && len(value) > a.MaxLen:
			return fieldErrorf(s.Name, ErrTagValue, "%d bytes (max %d)", len(value), a.MaxLen)
		case a.Valid != nil:
			if err := a.Valid(value); err != nil {
				return fieldErrorf(s.Name, ErrTagValue, "%v", err)
			}
		}
		return nil
	case List:
		_, err := s.parseList(value)
		return err
	}
	_, err := s.ParseNumber(value)
	return err
}

// ParseNumber reads the value of a number or flag tag in the tag's unit.
// A number above the tag's bound comes back as the bound, with an error
// wrapping ErrOutOfRange.
func (s TagSpec) ParseNumber(value string) (int64, error) {
	n, err := strconv.ParseInt(value, 10, 64)
	if errors.Is(err, strconv.ErrRange) && n > 0 {
		err = nil // saturated at MaxInt64: above every bound
	}
	switch {
	case s.Kind == Flag && (err != nil || n < 0 || n > 1):
		return 0, fieldErrorf(s.Name, ErrTagValue, "takes 0 or 1, not %q", value)
	case err != nil || n < 0:
		return 0, fieldErrorf(s.Name, ErrTagValue, "takes a non-negative integer (%s), not %q", s.Tag.Unit, value)
	case n > s.MaxValue():
		return s.MaxValue(), fieldErrorf(s.Name, ErrOutOfRange, "%d exceeds %d %s", n, s.MaxValue(), s.Tag.Unit)
	}
	return n, nil
}

func (s TagSpec) parseList(value string) (any, error) {
	var v any
	var err error
	switch {
	case s.Resource == nil:
		return nil, fieldErrorf(s.Name, ErrTagValue, "not a list tag")
	case s.Resource.Name == "ports":
		v, err = ParsePorts(value)
	case s.Resource.Name == "bind_slices":
		v, err = ParseBindSlices(value)
	default:
		return nil, fieldErrorf(s.Name, ErrTagValue, "no parser for list %s", s.Resource.Name)
	}
	if err != nil {
		return nil, fieldErrorf(s.Name, ErrTagValue, "%v (want %s)", err, s.Resource.Unit)
	}
	return v, nil
}

// Apply sets the tag's field in rs (for a delegate tag, the caller passes
// the pool as rs) from value, scaled into the rspec's unit. A number above
// its bound sets the field to the bound and returns an error wrapping
// ErrOutOfRange; any other error sets nothing.
func (s TagSpec) Apply(rs *Rspec, value string) error {
	if s.Resource == nil {
		return fieldErrorf(s.Name, ErrTagValue, "sets no rspec field")
	}
	if s.Kind == List {
		v, err := s.parseList(value)
		switch l := v.(type) {
		case []Port:
			rs.Ports = l
		case []string:
			rs.BindSlices = l
		}
		return err
	}
	n, err := s.ParseNumber(value)
	if err != nil && !errors.Is(err, ErrOutOfRange) {
		return err
	}
	s.Resource.Set(rs, mulSat(n, max(s.Tag.Scale, 1)))
	return err
}

// Format writes the tag's field of rs as the tag's value (rounded down to
// the tag's unit).
func (s TagSpec) Format(rs *Rspec) string {
	switch {
	case s.Resource == nil:
		return ""
	case s.Resource.Name == "ports":
		out := make([]string, len(rs.Ports))
		for i, p := range rs.Ports {
			out[i] = fmt.Sprintf("%s/%d", p.Proto, p.Port)
		}
		return strings.Join(out, ",")
	case s.Resource.Name == "bind_slices":
		return strings.Join(rs.BindSlices, ",")
	}
	return strconv.FormatInt(s.Resource.Get(rs)/max(s.Tag.Scale, 1), 10)
}

// ParsePorts reads a ports tag: comma-separated PROTO/PORT, PROTO tcp or
// udp, PORT 1 to 65535, none twice, at most MaxPorts ("" is no ports).
func ParsePorts(v string) ([]Port, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	fields := strings.Split(v, ",")
	if len(fields) > MaxPorts {
		return nil, fmt.Errorf("%d ports (max %d)", len(fields), MaxPorts)
	}
	out := make([]Port, 0, len(fields))
	seen := map[Port]bool{}
	for _, f := range fields {
		f = strings.TrimSpace(f)
		proto, num, ok := strings.Cut(f, "/")
		n, err := strconv.ParseUint(num, 10, 16)
		switch {
		case !ok || (proto != "tcp" && proto != "udp"):
			return nil, fmt.Errorf("%q: want tcp/PORT or udp/PORT", f)
		case err != nil || n == 0:
			return nil, fmt.Errorf("%q: port must be 1 to 65535", f)
		}
		p := Port{Proto: proto, Port: uint16(n)}
		if seen[p] {
			return nil, fmt.Errorf("%q: listed twice", f)
		}
		seen[p] = true
		out = append(out, p)
	}
	return out, nil
}

// ParseBindSlices reads a bind_slices tag: the comma-separated names of
// the slices a node manager slice may bind on its nodes besides its own,
// none twice, at most MaxBindSlices ("" is none).
func ParseBindSlices(v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	fields := strings.Split(v, ",")
	if len(fields) > MaxBindSlices {
		return nil, fmt.Errorf("%d names (max %d)", len(fields), MaxBindSlices)
	}
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		f = strings.TrimSpace(f)
		if _, err := ParseSliceName(f); err != nil {
			return nil, err
		}
		if slices.Contains(out, f) {
			return nil, fmt.Errorf("%q: listed twice", f)
		}
		out = append(out, f)
	}
	return out, nil
}

// AttributeValue is the value of the tag name among a sliver's attributes:
// the last one given (central lists a tagname's values oldest first, and
// the newest wins, as in central's rspec), else the last of the first of
// its aliases (AttributeTag.Aliases) that is given; "" when none is.
func AttributeValue(attrs []Attribute, name string) string {
	names := []string{name}
	if spec, ok := tagIndex()[name]; ok && spec.Attribute != nil {
		names = append(names, spec.Attribute.Aliases...)
	}
	for _, n := range names {
		for i := len(attrs) - 1; i >= 0; i-- {
			if attrs[i].TagName == n {
				return attrs[i].Value
			}
		}
	}
	return ""
}

// MaxImageName is the longest reference image name, in bytes.
const MaxImageName = 64

var imageNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`) })

// CheckImageName checks the name of a sliver's reference image: "" (the
// node's default) or up to MaxImageName of [a-zA-Z0-9._-], not starting
// with '.', '_' or '-'.
func CheckImageName(s string) error {
	if s != "" && (len(s) > MaxImageName || !imageNameRE().MatchString(s)) {
		return fmt.Errorf("%q is not an image name (want ^[a-zA-Z0-9][a-zA-Z0-9._-]*$, max %d)", s, MaxImageName)
	}
	return nil
}
