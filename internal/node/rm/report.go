package rm

import (
	"context"

	"github.com/orbisproject/orbis/api"
)

// reports returns the state of every sliver the list asks for, as the
// node manager sees it, with the reason the resource manager could not
// do what central asked, if any. A sliver that does not exist because of
// such a reason is failed.
func (m *manager) reports(ctx context.Context) ([]api.SliverReport, error) {
	nml, err := m.nm.List(ctx)
	if err != nil {
		return nil, err
	}
	live := map[string]api.SliverInfo{}
	for _, s := range nml.Slivers {
		live[s.Name] = s
	}
	want := m.wanted()
	out := make([]api.SliverReport, 0, len(want))
	for _, name := range sortedKeys(want) {
		info, ok := live[name]
		problem := m.problems[name]
		r := api.SliverReport{Name: name, State: info.State, Reason: join(info.Reason, problem)}
		switch {
		case ok:
		case problem != "":
			r.State = api.SliverFailed
		default:
			r.State, r.Reason = api.SliverFailed, "no sliver on the node (will retry)"
		}
		out = append(out, r)
	}
	return out, nil
}

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
