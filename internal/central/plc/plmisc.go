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
	s.add(method{name: "SetPersonPrimarySite", roles: rolesPersons, min: 2, max: 2, sig: []string{"int", "int", "int"},
		help: "Makes a site (site_id or login_base) the person's (person_id or email) primary site, listed first in their site_ids. The person must be a member of it; admins may do it for anyone, others for themselves.",
		call: s.setPersonPrimarySite})
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

func (s *Service) setPersonPrimarySite(ctx context.Context, c *Caller, args []any) (any, error) {
	pref, err := argRef(args, 0, "person_id_or_email")
	if err != nil {
		return nil, err
	}
	sref, err := argRef(args, 1, "site_id_or_login_base")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		p, err := t.person(pref)
		if err != nil {
			return err
		}
		if !c.IsAdmin() && c.PersonID != p.PersonID {
			return denied("only an admin or %s may choose their primary site", p.Email)
		}
		site, err := t.site(sref)
		if err != nil {
			return err
		}
		if !contains(p.SiteIDs, site.SiteID) {
			return Faultf(FaultInvalidArg, "%s is not a member of site %s: AddPersonToSite first", p.Email, site.LoginBase)
		}
		return t.SetPrimarySite(p.PersonID, site.SiteID)
	})
	return int64(1), err
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
		family = sliceFamily(Attributes(tags, 0, nil))
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
