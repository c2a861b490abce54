package plc

import (
	"context"
	"runtime/debug"
)

// APIVersion is the PLCAPI version Orbis speaks (GetAPIVersion).
const APIVersion = "5.0"

func (s *Service) registerPLMisc() {
	s.add(method{name: "GetSliceFamily", roles: []string{"admin", "user", "node"}, min: 1, max: 1, sig: []string{"string", "int"},
		help: "Returns the image a slice's slivers are made from: its vref tag; else pldistro-fcdistro-arch when one of those tags is set (defaults orbis, default, x86_64); else \"default\", the node's own default image.",
		call: s.getSliceFamily})
	s.add(method{name: "GetLeaseGranularity", roles: rolesPublic, sig: []string{"int"},
		help: "Returns the granularity of leases in seconds: t_from is rounded down to it, t_until up.",
		call: func(context.Context, *Caller, []any) (any, error) { return LeaseGranularity, nil }})
	s.add(method{name: "GetAPIVersion", roles: rolesPublic, sig: []string{"string"},
		help: "Returns the PLCAPI version this central speaks (" + APIVersion + ").",
		call: func(context.Context, *Caller, []any) (any, error) { return APIVersion, nil }})
	s.add(method{name: "GetPlcRelease", roles: rolesPublic, sig: []string{"struct"},
		help: "Returns {build, tags, rpms} as MyPLC does: build holds Orbis's module path, version and Go version; tags the VCS revision if known; rpms is empty (Orbis is one binary, not RPMs).",
		call: func(context.Context, *Caller, []any) (any, error) { return plcRelease(), nil }})
}

func (s *Service) getSliceFamily(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "slice_id_or_name")
	if err != nil {
		return nil, err
	}
	var family string
	err = s.view(ctx, c, func(t *txn) error {
		sl, err := t.slice(ref)
		if err != nil {
			return err
		}
		tags, err := t.SliceTags(condQuery("slice_id", sl.SliceID))
		family = sliceFamily(Attributes(tags, 0))
		return err
	})
	return family, err
}

// plcRelease describes this build in GetPlcRelease's shape.
func plcRelease() map[string]any {
	build := map[string]any{"name": "orbis"}
	tags := map[string]any{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		build["module"], build["version"], build["go"] = bi.Main.Path, bi.Main.Version, bi.GoVersion
		for _, st := range bi.Settings {
			if st.Key == "vcs.revision" || st.Key == "vcs.time" {
				tags[st.Key] = st.Value
			}
		}
	}
	return map[string]any{"build": build, "tags": tags, "rpms": map[string]any{}}
}
