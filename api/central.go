package api

// Records of central (PLC), with the field names of PlanetLab's PLCAPI, so
// that its clients work unchanged: the JSON API and XML-RPC carry the same
// records.
// Times are Unix seconds; an id of 0 means none.

// Roles, by PLCAPI role_id.
const (
	RoleAdmin = 10
	RolePI    = 20
	RoleUser  = 30
	RoleTech  = 40
)

// RoleNames maps role ids to PLCAPI role names.
var RoleNames = map[int]string{RoleAdmin: "admin", RolePI: "pi", RoleUser: "user", RoleTech: "tech"}

// Site is an institution that hosts nodes and has persons and slices.
type Site struct {
	SiteID          int64    `json:"site_id"`
	Name            string   `json:"name"`
	AbbreviatedName string   `json:"abbreviated_name"`
	LoginBase       string   `json:"login_base"`
	IsPublic        bool     `json:"is_public"`
	Enabled         bool     `json:"enabled"`
	Latitude        *float64 `json:"latitude"`
	Longitude       *float64 `json:"longitude"`
	URL             string   `json:"url"`
	MaxSlices       int64    `json:"max_slices"`
	MaxSlivers      int64    `json:"max_slivers"`
	// Shares is the site's allocation of node shares, which its PI hands
	// out to the site's slices (paper 4.2.3).
	Shares      int64   `json:"shares"`
	PersonIDs   []int64 `json:"person_ids"`
	SliceIDs    []int64 `json:"slice_ids"`
	NodeIDs     []int64 `json:"node_ids"`
	AddressIDs  []int64 `json:"address_ids"`
	PCUIDs      []int64 `json:"pcu_ids"`
	DateCreated int64   `json:"date_created"`
	LastUpdated int64   `json:"last_updated"`
}

// Person is a user of the platform. The password is never part of it.
type Person struct {
	PersonID    int64    `json:"person_id"`
	FirstName   string   `json:"first_name"`
	LastName    string   `json:"last_name"`
	Email       string   `json:"email"`
	Phone       string   `json:"phone"`
	URL         string   `json:"url"`
	Bio         string   `json:"bio"`
	Enabled     bool     `json:"enabled"`
	RoleIDs     []int64  `json:"role_ids"`
	Roles       []string `json:"roles"`
	SiteIDs     []int64  `json:"site_ids"`
	KeyIDs      []int64  `json:"key_ids"`
	SliceIDs    []int64  `json:"slice_ids"`
	DateCreated int64    `json:"date_created"`
	LastUpdated int64    `json:"last_updated"`
}

// Key is a person's SSH public key.
type Key struct {
	KeyID    int64  `json:"key_id"`
	KeyType  string `json:"key_type"`
	Key      string `json:"key"`
	PersonID int64  `json:"person_id"`
}

// Node is a machine at a site.
type Node struct {
	NodeID            int64   `json:"node_id"`
	Hostname          string  `json:"hostname"`
	SiteID            int64   `json:"site_id"`
	NodeType          string  `json:"node_type"`  // regular or reservable
	BootState         string  `json:"boot_state"` // boot, safeboot, reinstall, disabled
	Version           string  `json:"version"`
	Model             string  `json:"model"` // the hardware, as its owners name it
	IP                string  `json:"ip"`
	LastContact       int64   `json:"last_contact"`
	SliceIDs          []int64 `json:"slice_ids"`
	SliceIDsWhitelist []int64 `json:"slice_ids_whitelist"`
	InterfaceIDs      []int64 `json:"interface_ids"`
	PCUIDs            []int64 `json:"pcu_ids"` // the PCUs it is on
	// NodeTagIDs are its tags; NodeGroupIDs the node groups its tags put
	// it in.
	NodeTagIDs   []int64 `json:"node_tag_ids"`
	NodeGroupIDs []int64 `json:"nodegroup_ids"`
	DateCreated  int64   `json:"date_created"`
	LastUpdated  int64   `json:"last_updated"`
}

// Slice is a named set of slivers with users, a boot script, resources and
// an expiry.
type Slice struct {
	SliceID         int64   `json:"slice_id"`
	SiteID          int64   `json:"site_id"`
	Name            string  `json:"name"`
	Instantiation   string  `json:"instantiation"` // plc-instantiated, not-instantiated, delegated, nm-controller
	URL             string  `json:"url"`
	Description     string  `json:"description"`
	MaxNodes        int64   `json:"max_nodes"`
	CreatorPersonID int64   `json:"creator_person_id"`
	Created         int64   `json:"created"`
	Expires         int64   `json:"expires"`
	NodeIDs         []int64 `json:"node_ids"`
	PersonIDs       []int64 `json:"person_ids"`
	SliceTagIDs     []int64 `json:"slice_tag_ids"`
	// Shares is the slice's share of each node, handed to it from its
	// site's (or its broker's) shares.
	Shares int64 `json:"shares"`
}

// SliceTag is an attribute of a slice, on every node (NodeID 0) or on one.
type SliceTag struct {
	SliceTagID int64  `json:"slice_tag_id"`
	SliceID    int64  `json:"slice_id"`
	TagName    string `json:"tagname"`
	Value      string `json:"value"`
	NodeID     int64  `json:"node_id"`
	// NodeGroupID scopes the tag to the nodes of a node group (0: none).
	// On a node, a tag on the node wins over one on its node group, which
	// wins over one on every node.
	NodeGroupID int64 `json:"nodegroup_id"`
	// TagTypeID is the tag type named TagName, 0 for a free-form tag.
	TagTypeID int64 `json:"tag_type_id"`
}

// Lease reserves a reservable node for a slice over [TFrom, TUntil).
type Lease struct {
	LeaseID int64 `json:"lease_id"`
	TFrom   int64 `json:"t_from"`
	TUntil  int64 `json:"t_until"`
	NodeID  int64 `json:"node_id"`
	SliceID int64 `json:"slice_id"`
}

// Slivers is one node's view of what it should run: GetSlivers.
type Slivers struct {
	Timestamp int64  `json:"timestamp"`
	NodeID    int64  `json:"node_id"`
	Hostname  string `json:"hostname"`
	// Version increases with every change to the list, so a node can wait
	// for the next one (long-poll).
	Version int64    `json:"version"`
	Slivers []Sliver `json:"slivers"`
	// Leases are a reservable node's current and future leases, by
	// t_from (none on a regular node). Central already applies them: a
	// slice without a lease covering the list's Timestamp is listed with
	// the attribute enabled=0.
	Leases []Lease `json:"leases,omitempty"`
}

// Sliver is one slice as a node should instantiate it.
type Sliver struct {
	Name          string      `json:"name"`
	SliceID       int64       `json:"slice_id"`
	Instantiation string      `json:"instantiation"`
	Expires       int64       `json:"expires"`
	Keys          []SliverKey `json:"keys"`
	Attributes    []Attribute `json:"attributes"`
	// Rspec is what central's policy turned the slice's share, duration
	// and tags into, for the node manager.
	Rspec Rspec `json:"rspec"`
	// Software is the slice's pushed tree (`orbis slice push`); nil: none.
	Software *SliverSoftware `json:"software,omitempty"`
	// Description, URL and Emails (of the slice's enabled users) are for
	// the node's traffic auditor pages (paper 4.4.3), on the node channel.
	Description string   `json:"description,omitempty"`
	URL         string   `json:"url,omitempty"`
	Emails      []string `json:"emails,omitempty"`
}

// SliverKey is one SSH key of a slice's users.
type SliverKey struct {
	KeyType string `json:"key_type"`
	Key     string `json:"key"`
}

// Attribute is one slice tag as a node sees it (node-specific tags
// override global ones).
type Attribute struct {
	TagName string `json:"tagname"`
	Value   string `json:"value"`
}

// SliverReport is what a node tells central about one of its slivers.
type SliverReport struct {
	Name   string      `json:"name"`
	State  SliverState `json:"state"`
	Reason string      `json:"reason,omitempty"`
}
