package store

// Additions to the interface of central.md, announced here:
//   - Open(ctx, dsn, dataDir, log), OpenSQLite(ctx, path, log) and
//     OpenPostgres(ctx, url, log) open a Store (open.go).
//   - ErrInvalidField: a Query names a field the record kind does not have,
//     a value of the wrong type, or an operator the field does not take
//     (the API answers fault 102); test it with errors.Is.
//   - SliverReportRow and Event are the rows of SliverReports and Events.
//   - Store.Traffic() is the traffic auditor's archive (traffic.go),
//     outside Update/View and the change log; migration 0002_traffic.
//   - Store.Upgrades() keeps node upgrades' builds and signing key
//     (upgrades.go), likewise outside; migration 0004_upgrades.
//
// Behaviour worth knowing:
//   - Session, token and node token expiry: valid while now < expires;
//     expires 0 never expires. Expired ones are pruned in the background.
//   - Node versions count BumpNodes calls per node (0 if never bumped);
//     they are read in the same transaction as the change they announce.
//   - Store.Tx's NodeSummaries, SetNodeSummary and NodeHistory keep what
//     nodes' sensors say (summaries.go); migration 0007_node_summaries.
//   - Events: every mutating method logs one event, except TouchNode and
//     SetNodeSummary;
//     idempotent adds that changed nothing, and SetSliverReports that
//     changed no state or reason, log nothing. Details never hold password
//     hashes, node secrets, session keys or token hashes.
//   - Filters on email and hostname, and patterns (Like, NotLike), are
//     case-insensitive; other comparisons are exact.
//   - DeleteSliceFromNodes ignores nodes the slice is not on.

import (
	"context"
	"errors"

	"github.com/orbisproject/orbis/api"
)

// Errors a Store returns, wrapped with detail; test them with errors.Is.
var (
	// ErrNotFound: no such record (or an expired session or token).
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique field (login_base, email, hostname, slice
	// name) already has that value; the wrapping message names the field
	// and the value.
	ErrConflict = errors.New("conflict")
	// ErrInvalidField: a Query names an unknown field, or an operator
	// that field does not support.
	ErrInvalidField = errors.New("invalid field")
)

// Store keeps central's records. Every method is safe for concurrent use.
type Store interface {
	// Update runs fn in one read-write transaction, committed if fn
	// returns nil. actor ("person 12", "node 3", "system") is written to
	// the change log with every change made in it. A serialization
	// conflict is retried, so fn must be safe to run again.
	Update(ctx context.Context, actor string, fn func(Tx) error) error
	// View runs fn in a read-only snapshot.
	View(ctx context.Context, fn func(Tx) error) error
	// Close releases the database.
	Close() error
	// Traffic is the traffic auditor's archive, in the same database.
	Traffic() TrafficArchive
	// Upgrades is the node upgrades' archive (builds and signing key),
	// in the same database.
	Upgrades() UpgradeArchive
	// WatchNodes calls changed once it is watching, then soon after any
	// process on the database (this one or another central) commits a
	// BumpNodes, until ctx ends or the watch fails, and returns why. A
	// call may come with no change; the caller reads NodeVersions.
	WatchNodes(ctx context.Context, changed func()) error
}

// Tx is one transaction of a Store. In a View the mutating methods fail.
type Tx interface {
	// Sites lists sites; person_ids, slice_ids and node_ids are filled.
	Sites(q Query) ([]api.Site, error)
	// AddSite sets SiteID, DateCreated and LastUpdated.
	AddSite(s *api.Site) error
	// UpdateSite writes every scalar field and bumps LastUpdated.
	UpdateSite(s *api.Site) error
	// DeleteSite cascades: its nodes, slices and memberships.
	DeleteSite(id int64) error

	// Persons lists persons; role_ids, roles, site_ids (the primary site
	// first, then by id), key_ids and slice_ids are filled.
	Persons(q Query) ([]api.Person, error)
	// AddPerson sets PersonID, DateCreated and LastUpdated.
	AddPerson(p *api.Person, passwordHash string) error
	// UpdatePerson writes every scalar field and bumps LastUpdated.
	UpdatePerson(p *api.Person) error
	// DeletePerson cascades: keys, memberships, sessions, tokens.
	DeletePerson(id int64) error
	// PasswordHash finds a person by email (case-insensitive).
	PasswordHash(email string) (personID int64, hash string, err error)
	// SetPasswordHash replaces a person's password hash.
	SetPasswordHash(personID int64, hash string) error
	// AddPersonToSite is idempotent.
	AddPersonToSite(personID, siteID int64) error
	// DeletePersonFromSite removes a site membership.
	DeletePersonFromSite(personID, siteID int64) error
	// SetPrimarySite makes a site the person's primary one, first in
	// their site_ids; ErrNotFound if they are not at it.
	SetPrimarySite(personID, siteID int64) error
	// AddRoleToPerson is idempotent.
	AddRoleToPerson(roleID, personID int64) error
	// DeleteRoleFromPerson removes a role.
	DeleteRoleFromPerson(roleID, personID int64) error

	// Keys lists SSH keys.
	Keys(q Query) ([]api.Key, error)
	// AddKey sets KeyID.
	AddKey(k *api.Key) error
	// DeleteKey removes a key.
	DeleteKey(id int64) error
	// UpdateKey writes KeyType and Key (PersonID is kept).
	UpdateKey(k *api.Key) error
	// BlacklistKey removes a key and refuses its text to AddKey and
	// UpdateKey from then on (ErrConflict).
	BlacklistKey(id int64) error

	// Interfaces lists nodes' network interfaces.
	Interfaces(q Query) ([]api.Interface, error)
	// AddInterface sets InterfaceID and LastUpdated; a primary interface
	// makes the node's others not primary.
	AddInterface(i *api.Interface) error
	// UpdateInterface writes every field but NodeID, as AddInterface.
	UpdateInterface(i *api.Interface) error
	// DeleteInterface removes an interface.
	DeleteInterface(id int64) error

	// AddressTypes lists address types.
	AddressTypes(q Query) ([]api.AddressType, error)
	// AddAddressType sets AddressTypeID; ErrConflict if the name is taken.
	AddAddressType(a *api.AddressType) error
	// UpdateAddressType writes Name and Description.
	UpdateAddressType(a *api.AddressType) error
	// DeleteAddressType removes a type, from addresses too.
	DeleteAddressType(id int64) error
	// Addresses lists sites' addresses with their types.
	Addresses(q Query) ([]api.Address, error)
	// AddAddress sets AddressID.
	AddAddress(a *api.Address) error
	// UpdateAddress writes the lines, not SiteID nor the types.
	UpdateAddress(a *api.Address) error
	// DeleteAddress removes an address.
	DeleteAddress(id int64) error
	// AddAddressTypeToAddress is idempotent.
	AddAddressTypeToAddress(typeID, addressID int64) error
	// DeleteAddressTypeFromAddress is idempotent.
	DeleteAddressTypeFromAddress(typeID, addressID int64) error

	// TagTypes lists tag types with their roles.
	TagTypes(q Query) ([]api.TagType, error)
	// AddTagType sets TagTypeID; ErrConflict if the name is taken.
	AddTagType(a *api.TagType) error
	// UpdateTagType writes every field, roles too.
	UpdateTagType(a *api.TagType) error
	// DeleteTagType removes a tag type.
	DeleteTagType(id int64) error

	// NodeTags lists node tags.
	NodeTags(q Query) ([]api.NodeTag, error)
	// AddNodeTag sets NodeTagID; ErrConflict if the node has a tag of the
	// type.
	AddNodeTag(a *api.NodeTag) error
	// UpdateNodeTag writes a tag's value.
	UpdateNodeTag(id int64, value string) error
	// DeleteNodeTag removes a node tag.
	DeleteNodeTag(id int64) error
	// SiteTags lists site tags.
	SiteTags(q Query) ([]api.SiteTag, error)
	// AddSiteTag sets SiteTagID; ErrConflict if the site has a tag of the
	// type.
	AddSiteTag(a *api.SiteTag) error
	// UpdateSiteTag writes a tag's value.
	UpdateSiteTag(id int64, value string) error
	// DeleteSiteTag removes a site tag.
	DeleteSiteTag(id int64) error
	// PersonTags lists person tags.
	PersonTags(q Query) ([]api.PersonTag, error)
	// AddPersonTag sets PersonTagID; ErrConflict if the person has a tag
	// of the type.
	AddPersonTag(a *api.PersonTag) error
	// UpdatePersonTag writes a tag's value.
	UpdatePersonTag(id int64, value string) error
	// DeletePersonTag removes a person tag.
	DeletePersonTag(id int64) error
	// NodeGroups lists node groups with their nodes.
	NodeGroups(q Query) ([]api.NodeGroup, error)
	// AddNodeGroup sets NodeGroupID; ErrConflict if the name is taken.
	AddNodeGroup(g *api.NodeGroup) error
	// UpdateNodeGroup writes GroupName and Value.
	UpdateNodeGroup(g *api.NodeGroup) error
	// DeleteNodeGroup removes a node group.
	DeleteNodeGroup(id int64) error

	// PCUs lists power control units with their nodes and ports.
	PCUs(q Query) ([]api.PCU, error)
	// AddPCU sets PCUID and LastUpdated.
	AddPCU(p *api.PCU) error
	// UpdatePCU writes every field but SiteID and the nodes.
	UpdatePCU(p *api.PCU) error
	// DeletePCU removes a PCU.
	DeletePCU(id int64) error
	// AddNodeToPCU puts a node on a port; ErrConflict if the node is on
	// the PCU or the port is taken.
	AddNodeToPCU(nodeID, pcuID, port int64) error
	// DeleteNodeFromPCU takes a node off a PCU.
	DeleteNodeFromPCU(nodeID, pcuID int64) error

	// PCUTypes lists PCU models, each with its protocol types.
	PCUTypes(q Query) ([]PCUType, error)
	// AddPCUType sets PCUTypeID; ErrConflict if the model is taken.
	AddPCUType(p *PCUType) error
	// UpdatePCUType writes Model and Name.
	UpdatePCUType(p *PCUType) error
	// DeletePCUType removes a PCU type and its protocol types.
	DeletePCUType(id int64) error
	// PCUProtocolTypes lists the protocol types of PCU models.
	PCUProtocolTypes(q Query) ([]PCUProtocolType, error)
	// AddPCUProtocolType sets PCUProtocolTypeID.
	AddPCUProtocolType(p *PCUProtocolType) error
	// UpdatePCUProtocolType writes Port, Protocol and Supported.
	UpdatePCUProtocolType(p *PCUProtocolType) error
	// DeletePCUProtocolType removes a PCU protocol type.
	DeletePCUProtocolType(id int64) error

	// Messages lists message templates.
	Messages(q Query) ([]Message, error)
	// AddMessage adds a template; ErrConflict if its id is taken.
	AddMessage(m *Message) error
	// UpdateMessage writes Subject, Template and Enabled.
	UpdateMessage(m *Message) error
	// DeleteMessage removes a template.
	DeleteMessage(id string) error

	// SetSliceWhitelisted puts a slice on nodes' whitelists (on) or
	// takes it off.
	SetSliceWhitelisted(sliceID int64, nodeIDs []int64, on bool) error

	// Nodes lists nodes; slice_ids and interface_ids are filled.
	Nodes(q Query) ([]api.Node, error)
	// AddNode sets NodeID, DateCreated and LastUpdated.
	AddNode(n *api.Node) error
	// UpdateNode writes every scalar field and bumps LastUpdated.
	UpdateNode(n *api.Node) error
	// DeleteNode cascades: memberships, tags on that node, leases.
	DeleteNode(id int64) error
	// NodeSecret is the node's HMAC key, stored as is.
	NodeSecret(nodeID int64) (string, error)
	// SetNodeSecret replaces the node's HMAC key.
	SetNodeSecret(nodeID int64, secret string) error
	// AddNodeToken stores a one-time registration token (SHA-256 hex).
	AddNodeToken(nodeID int64, tokenHash string, expires int64) error
	// UseNodeToken deletes the token and returns its node; ErrNotFound if
	// absent or expired.
	UseNodeToken(tokenHash string, now int64) (nodeID int64, err error)
	// DeleteNodeTokens deletes every registration token of a node.
	DeleteNodeTokens(nodeID int64) error

	// Slices lists slices; node_ids, person_ids and slice_tag_ids are
	// filled.
	Slices(q Query) ([]api.Slice, error)
	// AddSlice sets SliceID (and Created if 0).
	AddSlice(s *api.Slice) error
	// UpdateSlice writes every scalar field.
	UpdateSlice(s *api.Slice) error
	// DeleteSlice cascades: tags, memberships, leases.
	DeleteSlice(id int64) error
	// AddSliceToNodes is idempotent.
	AddSliceToNodes(sliceID int64, nodeIDs []int64) error
	// DeleteSliceFromNodes removes slice-node memberships.
	DeleteSliceFromNodes(sliceID int64, nodeIDs []int64) error
	// AddPersonToSlice is idempotent.
	AddPersonToSlice(personID, sliceID int64) error
	// DeletePersonFromSlice removes a slice membership.
	DeletePersonFromSlice(personID, sliceID int64) error

	// SliceTags lists slice tags.
	SliceTags(q Query) ([]api.SliceTag, error)
	// AddSliceTag sets SliceTagID.
	AddSliceTag(t *api.SliceTag) error
	// UpdateSliceTag writes every field.
	UpdateSliceTag(t *api.SliceTag) error
	// DeleteSliceTag removes a tag.
	DeleteSliceTag(id int64) error

	// Leases lists leases.
	Leases(q Query) ([]api.Lease, error)
	// AddLease sets LeaseID.
	AddLease(l *api.Lease) error
	// UpdateLease writes t_from and t_until.
	UpdateLease(l *api.Lease) error
	// DeleteLease removes a lease.
	DeleteLease(id int64) error

	// AddSession stores a session key's hash for a person or a node.
	AddSession(keyHash string, personID, nodeID, expires int64) error
	// Session finds a session; ErrNotFound if absent or expired.
	Session(keyHash string, now int64) (personID, nodeID int64, err error)
	// DeleteSession removes a session.
	DeleteSession(keyHash string) error
	// Sessions lists sessions; fields session_id (the key's hash),
	// person_id, node_id, expires.
	Sessions(q Query) ([]SessionRow, error)
	// AddToken stores a JSON API token's hash (SHA-256 hex).
	AddToken(tokenHash string, personID int64, name string, expires int64) error
	// Token finds a token; ErrNotFound if absent or expired.
	Token(tokenHash string, now int64) (personID int64, err error)
	// DeleteToken removes a token.
	DeleteToken(tokenHash string) error
	// Tokens lists a person's live tokens, the soonest to expire first.
	Tokens(personID, now int64) ([]APIToken, error)
	// SetPasswordReset makes tokenHash the person's one password reset
	// token, replacing any earlier one.
	SetPasswordReset(personID int64, tokenHash string, expires int64) error
	// UsePasswordReset deletes the reset token and returns its person;
	// ErrNotFound if absent or expired.
	UsePasswordReset(tokenHash string, now int64) (personID int64, err error)
	// RevokePerson ends every session and token of a person except the
	// session keepSession and the token keepToken ("" keeps none), and
	// returns how many it ended.
	RevokePerson(personID int64, keepSession, keepToken string) (int64, error)

	// InitScripts lists initscripts (PLCAPI's, named by initscript tags).
	InitScripts(q Query) ([]InitScript, error)
	// AddInitScript sets InitScriptID; names are unique.
	AddInitScript(s *InitScript) error
	// UpdateInitScript writes every field.
	UpdateInitScript(s *InitScript) error
	// DeleteInitScript removes an initscript.
	DeleteInitScript(id int64) error
	// ConfFiles lists conf files; node_ids and nodegroup_ids are filled.
	ConfFiles(q Query) ([]ConfFile, error)
	// AddConfFile sets ConfFileID.
	AddConfFile(c *ConfFile) error
	// UpdateConfFile writes every scalar field.
	UpdateConfFile(c *ConfFile) error
	// DeleteConfFile cascades: its links to nodes and node groups.
	DeleteConfFile(id int64) error
	// AddConfFileToNode is idempotent.
	AddConfFileToNode(confFileID, nodeID int64) error
	// DeleteConfFileFromNode removes a link.
	DeleteConfFileFromNode(confFileID, nodeID int64) error
	// AddConfFileToNodeGroup is idempotent.
	AddConfFileToNodeGroup(confFileID, nodeGroupID int64) error
	// DeleteConfFileFromNodeGroup removes a link.
	DeleteConfFileFromNodeGroup(confFileID, nodeGroupID int64) error

	// InterfaceTags lists interface tags; fields interface_tag_id,
	// interface_id, ip, tag_type_id, tagname, value, category,
	// description.
	InterfaceTags(q Query) ([]InterfaceTag, error)
	// AddInterfaceTag sets InterfaceTagID; ErrConflict if the interface
	// has a tag of the type.
	AddInterfaceTag(a *InterfaceTag) error
	// UpdateInterfaceTag writes a tag's value.
	UpdateInterfaceTag(id int64, value string) error
	// DeleteInterfaceTag removes an interface tag.
	DeleteInterfaceTag(id int64) error
	// Ilinks lists interface links.
	Ilinks(q Query) ([]Ilink, error)
	// AddIlink sets IlinkID; ErrConflict if a link of its type joins
	// the two interfaces.
	AddIlink(l *Ilink) error
	// UpdateIlink writes a link's value.
	UpdateIlink(id int64, value string) error
	// DeleteIlink removes a link.
	DeleteIlink(id int64) error

	// SetSliverReports replaces the node's reports.
	SetSliverReports(nodeID int64, reports []api.SliverReport, at int64) error
	// SliverReports lists reports; fields node_id, name, state, reason,
	// updated.
	SliverReports(q Query) ([]SliverReportRow, error)
	// TouchNode sets last_contact, with no change-log entry.
	TouchNode(nodeID, lastContact int64) error
	// SetNodeSummary records s (its NodeID, at s.Updated) as its node's
	// latest summary and its period's point of history, keeping at most
	// api.NodeHistoryPoints points a node; no change-log entry.
	SetNodeSummary(s api.NodeSummary) error
	// NodeSummaries lists the latest summaries; fields as api.NodeSummary.
	NodeSummaries(q Query) ([]api.NodeSummary, error)
	// NodeHistory returns a node's points, oldest first.
	NodeHistory(nodeID int64) ([]api.NodePoint, error)
	// BumpNodes increments each node's version: a node-visible change.
	BumpNodes(nodeIDs []int64) error
	// NodeVersions is the current version per node (0 if never bumped).
	NodeVersions(nodeIDs []int64) (map[int64]int64, error)
	// Events lists the change log; fields event_id, time, actor, action,
	// object_type, object_id, detail.
	Events(q Query) ([]Event, error)
}

// SliverReportRow is one node's report on one sliver.
type SliverReportRow struct {
	NodeID  int64  `json:"node_id"`
	Name    string `json:"name"` // the slice name
	State   string `json:"state"`
	Reason  string `json:"reason"`
	Updated int64  `json:"updated"` // Unix seconds
}

// Event is one entry of the append-only change log.
type Event struct {
	EventID    int64  `json:"event_id"`
	Time       int64  `json:"time"` // Unix seconds
	Actor      string `json:"actor"`
	Action     string `json:"action"` // the Tx method, e.g. "AddSlice"
	ObjectType string `json:"object_type"`
	ObjectID   int64  `json:"object_id"`
	Detail     string `json:"detail"` // JSON of the changed fields
}
