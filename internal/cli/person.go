package cli

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/api"
)

func init() {
	register(&Command{
		Name:    "person",
		Summary: "persons at central (list|show|create|update|delete|add-role|add-to-site)",
		Run:     centralVerb("person", personSubs),
	})
}

// personFields are the flags of person create and update.
var personFields = []fieldSpec{
	{"first", "first_name", kindString, "first name"},
	{"last", "last_name", kindString, "last name"},
	{"email", "email", kindString, "email (update: a new address)"},
	{"phone", "phone", kindString, "phone number"},
	{"url", "url", kindString, "web page"},
	{"bio", "bio", kindString, "biography"},
	{"enabled", "enabled", kindBool, "enabled (new persons start disabled)"},
}

var personSubs = []*centralSub{
	{name: "list", usage: "list [--site SITE] [--json]", maxArgs: 0, setup: func(fs *flag.FlagSet) func(context.Context, *centralCall) error {
		site := fs.String("site", "", "only the persons of this site (id or login base)")
		return func(ctx context.Context, c *centralCall) error { return personList(ctx, c, *site) }
	}},
	{name: "show", usage: "show ID|EMAIL [--json]", minArgs: 1, maxArgs: 1, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return personShow
	}},
	{name: "create", usage: "create EMAIL --first F --last L [--site SITE] [--role ROLE] [--password-stdin] [--enabled] ...", minArgs: 1, maxArgs: 1, setup: func(fs *flag.FlagSet) func(context.Context, *centralCall) error {
		ff := addFieldFlags(fs, personFields)
		site := fs.String("site", "", "make the person a member of this site")
		role := fs.String("role", "", "grant this role (admin, pi, user, tech)")
		pw := fs.Bool("password-stdin", false, "read the person's password from the first line of standard input")
		return func(ctx context.Context, c *centralCall) error { return personCreate(ctx, c, ff, *site, *role, *pw) }
	}},
	{name: "update", usage: "update ID|EMAIL [--first F] [--enabled] [--password-stdin] ...", minArgs: 1, maxArgs: 1, setup: func(fs *flag.FlagSet) func(context.Context, *centralCall) error {
		ff := addFieldFlags(fs, personFields)
		pw := fs.Bool("password-stdin", false, "read a new password from the first line of standard input")
		return func(ctx context.Context, c *centralCall) error {
			if *pw {
				ff = append(ff, passwordField(c))
			}
			return updateRecord(ctx, c, "person", ff, c.client.UpdatePerson)
		}
	}},
	{name: "delete", usage: "delete ID|EMAIL", minArgs: 1, maxArgs: 1, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return func(ctx context.Context, c *centralCall) error {
			return deleteRecord(ctx, c, "person", c.client.DeletePerson)
		}
	}},
	{name: "add-role", usage: "add-role ID|EMAIL ROLE (admin, pi, user or tech)", minArgs: 2, maxArgs: 2, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return personAddRole
	}},
	{name: "add-to-site", usage: "add-to-site ID|EMAIL SITE", minArgs: 2, maxArgs: 2, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return func(ctx context.Context, c *centralCall) error {
			if err := c.client.AddPersonToSite(ctx, ref(c.args[0]), ref(c.args[1])); err != nil {
				return err
			}
			fmt.Fprintf(c.env.Stdout, "%s is a member of site %s\n", c.args[0], c.args[1])
			return nil
		}
	}},
}

func personList(ctx context.Context, c *centralCall, site string) error {
	var filter any
	if site != "" {
		s, err := findSite(ctx, c.client, site)
		if err != nil {
			return err
		}
		if len(s.PersonIDs) == 0 {
			return printPersons(ctx, c, nil)
		}
		filter = s.PersonIDs
	}
	persons, err := c.client.GetPersons(ctx, filter)
	if err != nil {
		return err
	}
	return printPersons(ctx, c, persons)
}

func printPersons(ctx context.Context, c *centralCall, persons []api.Person) error {
	if c.json {
		return writeJSON(c.env.Stdout, persons)
	}
	sites, err := siteNames(ctx, c.client)
	if err != nil {
		return err
	}
	rows := make([][]string, len(persons))
	for i, p := range persons {
		rows[i] = []string{
			strconv.FormatInt(p.PersonID, 10), p.Email, strings.TrimSpace(p.FirstName + " " + p.LastName),
			orDash(strings.Join(p.Roles, ",")), orDash(idNames(p.SiteIDs, sites)), yesNo(p.Enabled),
		}
	}
	return writeTable(c.env.Stdout, []string{"ID", "EMAIL", "NAME", "ROLES", "SITES", "ENABLED"}, rows)
}

func personShow(ctx context.Context, c *centralCall) error {
	p, err := findPerson(ctx, c.client, c.args[0])
	if err != nil || c.json {
		return printOr(c, p, err)
	}
	sites, err := siteNames(ctx, c.client)
	if err != nil {
		return err
	}
	return writeRecord(c.env.Stdout, p, [][2]string{{"sites", idNames(p.SiteIDs, sites)}})
}

func personCreate(ctx context.Context, c *centralCall, ff fieldFlags, site, role string, pw bool) error {
	roleID, err := roleRef(role)
	if err != nil {
		return err
	}
	if pw {
		ff = append(ff, passwordField(c))
	}
	fields, err := ff.values()
	if err != nil {
		return err
	}
	fields["email"] = c.args[0]
	for _, f := range []string{"first_name", "last_name"} {
		if _, ok := fields[f]; !ok {
			return &UsageError{Msg: "orbis person create: give the person's name with --first and --last"}
		}
	}
	id, err := c.client.AddPerson(ctx, fields)
	if err != nil {
		return err
	}
	if site != "" {
		if err := c.client.AddPersonToSite(ctx, id, ref(site)); err != nil {
			return fmt.Errorf("person %d created, but: %w", id, err)
		}
	}
	if role != "" {
		if err := c.client.AddRoleToPerson(ctx, roleID, id); err != nil {
			return fmt.Errorf("person %d created, but: %w", id, err)
		}
	}
	return printCreated(c, "person", c.args[0], "person_id", id, nil)
}

// passwordField reads a password from standard input as if given by a
// --password flag, so that it never appears in the process list.
func passwordField(c *centralCall) *fieldValue {
	line, _ := bufio.NewReader(c.env.Stdin).ReadString('\n')
	v := &fieldValue{spec: fieldSpec{"password-stdin", "password", kindString, ""}}
	if line = strings.TrimRight(line, "\r\n"); line != "" {
		v.raw, v.set = line, true
	}
	return v
}

func personAddRole(ctx context.Context, c *centralCall) error {
	role, err := roleRef(c.args[1])
	if err != nil {
		return err
	}
	if err := c.client.AddRoleToPerson(ctx, role, ref(c.args[0])); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "%s has role %s\n", c.args[0], c.args[1])
	return nil
}

// roleRef turns a role name or id into its id ("" is 0).
func roleRef(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	for id, name := range api.RoleNames {
		if strings.EqualFold(s, name) || s == strconv.Itoa(id) {
			return int64(id), nil
		}
	}
	return 0, &UsageError{Msg: fmt.Sprintf("unknown role %q: want admin, pi, user or tech", s)}
}

// findPerson returns the person that arg (an id or email) names.
func findPerson(ctx context.Context, cc *api.CentralClient, arg string) (*api.Person, error) {
	ps, err := cc.GetPersons(ctx, ref(arg))
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("no person %q (see `orbis person list`)", arg)
	}
	return &ps[0], nil
}

// personEmails maps person ids to emails, for tables.
func personEmails(ctx context.Context, cc *api.CentralClient, ids []int64) (map[int64]string, error) {
	m := map[int64]string{}
	if len(ids) == 0 {
		return m, nil
	}
	ps, err := cc.GetPersons(ctx, ids, "person_id", "email")
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		m[p.PersonID] = p.Email
	}
	return m, nil
}

// idNames shows ids by their names, or by number when unknown.
func idNames(ids []int64, names map[int64]string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = names[id]
		if parts[i] == "" {
			parts[i] = strconv.FormatInt(id, 10)
		}
	}
	return strings.Join(parts, ", ")
}
