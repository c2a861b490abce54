package plc

import (
	"context"

	"github.com/orbisproject/orbis/api"
)

// SiteRegistration is a new site asking to join, with its PI.
type SiteRegistration struct {
	// Name, LoginBase and URL describe the site; Latitude and Longitude
	// place it (nil: unknown).
	Name, LoginBase, URL string
	Latitude, Longitude  *float64
	// PI is the person who will run the site; its LoginBase is ignored.
	PI Registration
}

// RegisterSite adds a site that registered itself, disabled and with no
// quota, and its PI, disabled, with the pi and user roles: an admin
// approves the site by enabling it (and its PI) and setting its quotas
// with UpdateSite. Anyone may call it; at most Options.MaxPending sites
// wait disabled at once, and each registration counts against the login
// throttle of the caller's address, as RegisterPerson's do.
func (s *Service) RegisterSite(ctx context.Context, reg SiteRegistration) (int64, error) {
	site := api.Site{}
	sf := &fieldSet{what: "site_fields", m: map[string]any{"name": reg.Name, "abbreviated_name": reg.LoginBase, "login_base": reg.LoginBase, "url": reg.URL}}
	if reg.Latitude != nil {
		sf.m["latitude"] = *reg.Latitude
	}
	if reg.Longitude != nil {
		sf.m["longitude"] = *reg.Longitude
	}
	if err := setSiteFields(sf, &site); err != nil {
		return 0, err
	}
	site.Enabled, site.MaxSlices, site.MaxSlivers, site.Shares = false, 0, 0, 0
	room := func(t *txn) error { return t.siteRoomForRegistration(s.maxPending) }
	_, err := s.selfRegister(ctx, reg.PI, room, func(t *txn, p *api.Person, hash string) error {
		if err := t.AddSite(&site); err != nil {
			return err
		}
		return t.addRegistrant(p, hash, site.SiteID, api.RolePI, api.RoleUser)
	})
	return site.SiteID, err
}

// siteRoomForRegistration refuses a new site's registration while max
// sites wait disabled.
func (t *txn) siteRoomForRegistration(max int) error {
	waiting, err := t.Sites(condQuery("enabled", false))
	if err != nil {
		return err
	}
	if len(waiting) >= max {
		return Faultf(FaultInvalidArg, "too many sites are waiting for approval; try again later")
	}
	return nil
}
