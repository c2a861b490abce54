package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/api"
)

func init() {
	register(&Command{
		Name:    "site",
		Summary: "sites at central (list|show|create|update|delete)",
		Run:     centralVerb("site", siteSubs),
	})
}

// siteFields are the flags of site create and update.
var siteFields = []fieldSpec{
	{"name", "name", kindString, "full name"},
	{"abbrev", "abbreviated_name", kindString, "abbreviated name"},
	{"login-base", "login_base", kindString, "login base: the prefix of the site's slice names"},
	{"url", "url", kindString, "web page"},
	{"enabled", "enabled", kindBool, "enabled"},
	{"public", "is_public", kindBool, "listed publicly"},
	{"max-slices", "max_slices", kindInt, "most live slices"},
	{"max-slivers", "max_slivers", kindInt, "most slivers"},
	{"shares", "shares", kindInt, "node shares the site's PI hands to its slices"},
	{"latitude", "latitude", kindFloat, "latitude"},
	{"longitude", "longitude", kindFloat, "longitude"},
}

var siteSubs = []*centralSub{
	{name: "list", usage: "list [--json]", maxArgs: 0, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return siteList
	}},
	{name: "show", usage: "show ID|LOGIN_BASE [--json]", minArgs: 1, maxArgs: 1, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return siteShow
	}},
	{name: "create", usage: "create LOGIN_BASE --name NAME [--abbrev A] [--url U] [--max-slices N] [--shares N] [--enabled] [--public] ...", minArgs: 1, maxArgs: 1, setup: func(fs *flag.FlagSet) func(context.Context, *centralCall) error {
		ff := addFieldFlags(fs, siteFields)
		return func(ctx context.Context, c *centralCall) error { return siteCreate(ctx, c, ff) }
	}},
	{name: "update", usage: "update ID|LOGIN_BASE [--name NAME] [--max-slices N] [--enabled=false] ...", minArgs: 1, maxArgs: 1, setup: func(fs *flag.FlagSet) func(context.Context, *centralCall) error {
		ff := addFieldFlags(fs, siteFields)
		return func(ctx context.Context, c *centralCall) error {
			return updateRecord(ctx, c, "site", ff, c.client.UpdateSite)
		}
	}},
	{name: "delete", usage: "delete ID|LOGIN_BASE (with its nodes and slices)", minArgs: 1, maxArgs: 1, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return func(ctx context.Context, c *centralCall) error {
			return deleteRecord(ctx, c, "site", c.client.DeleteSite)
		}
	}},
}

func siteList(ctx context.Context, c *centralCall) error {
	sites, err := c.client.GetSites(ctx, nil)
	if err != nil || c.json {
		return printOr(c, sites, err)
	}
	rows := make([][]string, len(sites))
	for i, s := range sites {
		rows[i] = []string{
			strconv.FormatInt(s.SiteID, 10), s.LoginBase, s.Name, yesNo(s.Enabled),
			strconv.Itoa(len(s.NodeIDs)), fmt.Sprintf("%d/%d", len(s.SliceIDs), s.MaxSlices),
			strconv.Itoa(len(s.PersonIDs)), strconv.FormatInt(s.Shares, 10),
		}
	}
	return writeTable(c.env.Stdout, []string{"ID", "LOGIN_BASE", "NAME", "ENABLED", "NODES", "SLICES", "PERSONS", "SHARES"}, rows)
}

func siteShow(ctx context.Context, c *centralCall) error {
	s, err := findSite(ctx, c.client, c.args[0])
	if err != nil || c.json {
		return printOr(c, s, err)
	}
	return writeRecord(c.env.Stdout, s, nil)
}

func siteCreate(ctx context.Context, c *centralCall, ff fieldFlags) error {
	fields, err := ff.values()
	if err != nil {
		return err
	}
	fields["login_base"] = c.args[0]
	if _, ok := fields["name"]; !ok {
		return &UsageError{Msg: "orbis site create: give the site's full name with --name"}
	}
	if _, ok := fields["abbreviated_name"]; !ok {
		fields["abbreviated_name"] = c.args[0]
	}
	id, err := c.client.AddSite(ctx, fields)
	return printCreated(c, "site", c.args[0], "site_id", id, err)
}

// findSite returns the site that arg (an id or login base) names.
func findSite(ctx context.Context, cc *api.CentralClient, arg string) (*api.Site, error) {
	sites, err := cc.GetSites(ctx, ref(arg))
	if err != nil {
		return nil, err
	}
	if len(sites) == 0 {
		return nil, fmt.Errorf("no site %q (see `orbis site list`)", arg)
	}
	return &sites[0], nil
}

// siteNames maps site ids to login bases, for tables.
func siteNames(ctx context.Context, cc *api.CentralClient) (map[int64]string, error) {
	sites, err := cc.GetSites(ctx, nil, "site_id", "login_base")
	if err != nil {
		return nil, err
	}
	m := make(map[int64]string, len(sites))
	for _, s := range sites {
		m[s.SiteID] = s.LoginBase
	}
	return m, nil
}

// printOr prints v as JSON, or returns err.
func printOr(c *centralCall, v any, err error) error {
	if err != nil {
		return err
	}
	return writeJSON(c.env.Stdout, v)
}

// printCreated reports a new record's id.
func printCreated(c *centralCall, kind, name, idField string, id int64, err error) error {
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.env.Stdout, map[string]int64{idField: id})
	}
	fmt.Fprintf(c.env.Stdout, "created %s %s (id %d)\n", kind, name, id)
	return nil
}

// updateRecord sends the fields given as flags to update.
func updateRecord(ctx context.Context, c *centralCall, kind string, ff fieldFlags, update func(context.Context, any, map[string]any) error) error {
	fields, err := ff.values()
	if err != nil {
		return err
	}
	if len(fields) == 0 {
		return &UsageError{Msg: fmt.Sprintf("orbis %s update: nothing to change: give one of %s", kind, ff.names())}
	}
	if err := update(ctx, ref(c.args[0]), fields); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "updated %s %s: %s\n", kind, c.args[0], strings.Join(sortedKeys(fields), ", "))
	return nil
}

// deleteRecord deletes the record that the argument names.
func deleteRecord(ctx context.Context, c *centralCall, kind string, del func(context.Context, any) error) error {
	if err := del(ctx, ref(c.args[0])); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "deleted %s %s\n", kind, c.args[0])
	return nil
}
