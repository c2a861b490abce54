package api

// An AccessorTag is one of PLCAPI's standard tags (its Get/Set accessors:
// GetNodeArch, SetSliceVref): a tag type every PLC has, with the objects
// it goes on, its category and the roles that may set it. Together with
// the resource table's slice tags (TagSpecs) these are the tag types
// central declares; an admin adds others.
type AccessorTag struct {
	Name     string
	Category string
	// Objects are the kinds of record the tag goes on: "node", "slice",
	// "site", "person", "interface".
	Objects []string
	// Roles may set the tag (RoleAdmin and the others of central.go).
	Roles []int
	Doc   string
}

// Role sets of the accessor tags, as PLCAPI's Accessors name them.
var (
	rolesAdminOnly = []int{RoleAdmin}
	rolesTech      = []int{RoleAdmin, RolePI, RoleTech}
	rolesAnyone    = []int{RoleAdmin, RolePI, RoleUser, RoleTech}
)

// AccessorTags are PLCAPI's standard accessor tags that the resource
// table does not name (vref and initscript are its attribute tags). hrn
// and sfa_created, which SFA's driver sets as an admin, are admins' only
// here: a slice's user who set its hrn could pass it off as another
// authority's slice.
var AccessorTags = []AccessorTag{
	{"arch", "node/slice/config", []string{"node", "slice"}, rolesAnyone, "node arch or slivers arch"},
	{"pldistro", "node/slice/config", []string{"node", "slice"}, rolesAnyone, "PlanetLab distribution to use for node or slivers"},
	{"fcdistro", "node/slice/config", []string{"node", "slice"}, rolesAnyone, "Fedora or CentOS distribution to use for node or slivers"},
	{"initscript_code", "slice/usertools", []string{"slice"}, rolesAnyone, "slice initialization script code (supersedes initscript)"},
	{"deployment", "node/operation", []string{"node"}, rolesAdminOnly, `typically "alpha", "beta", or "production"`},
	{"extensions", "node/config", []string{"node"}, rolesAdminOnly, "space-separated list of extensions to install"},
	{"hrn", "sfa", []string{"node", "slice", "site", "person"}, rolesAdminOnly, "SFA human readable name"},
	{"sfa_created", "sfa", []string{"slice", "site", "person"}, rolesAdminOnly, "created through SFA"},
	{"hardware_type", "node/sfa", []string{"node"}, rolesAdminOnly, "the node's hardware type as SFA advertises it"},
	{"plain-bootstrapfs", "node/config", []string{"node"}, rolesTech, "kept for PlanetLab's tools; Orbis nodes do not read it"},
	{"serial", "node/bootcd", []string{"node"}, rolesTech, "kept for PlanetLab's tools; Orbis has no boot CD"},
	{"cramfs", "node/bootcd", []string{"node"}, rolesTech, "kept for PlanetLab's tools; Orbis has no boot CD"},
	{"kvariant", "node/bootcd", []string{"node"}, rolesTech, "kept for PlanetLab's tools; Orbis has no boot CD"},
	{"kargs", "node/bootcd", []string{"node"}, rolesTech, "kept for PlanetLab's tools; Orbis has no boot CD"},
	{"no-hangcheck", "node/bootcd", []string{"node"}, rolesTech, "kept for PlanetLab's tools; Orbis has no boot CD"},
	{"exempt_site_until", "site/monitor", []string{"site"}, rolesAdminOnly, "PlanetLab monitor's exemption (YYYYMMDD), set by SFA for federated sites; Orbis keeps it"},
	{"exempt_node_until", "node/monitor", []string{"node"}, rolesAdminOnly, "PlanetLab monitor's exemption (YYYYMMDD); Orbis keeps it"},
	{"exempt_slice_until", "slice/monitor", []string{"slice"}, rolesAdminOnly, "PlanetLab monitor's exemption (YYYYMMDD); Orbis keeps it"},
	{"ifname", "interface/config", []string{"interface"}, rolesTech, "linux name"},
	{"driver", "interface/config", []string{"interface"}, rolesTech, "driver name"},
	{"alias", "interface/config", []string{"interface"}, rolesTech, "interface alias"},
	{"backdoor", "interface/hidden", []string{"interface"}, rolesAdminOnly, "For testing new settings"},
	{"sliversipv6prefix", "interface/ipv6", []string{"interface"}, rolesTech, "The IPv6 Range/Prefix for the Slivers"},
	// The wireless tags (PlanetLab's Accessors_wireless): every caller
	// reads an interface's tags, these too, as in PLCAPI.
	{"mode", "interface/wifi", []string{"interface"}, rolesTech, "Wifi operation mode - see iwconfig"},
	{"essid", "interface/wifi", []string{"interface"}, rolesTech, "Wireless essid - see iwconfig"},
	{"nw", "interface/wifi", []string{"interface"}, rolesTech, "Wireless nw - see iwconfig"},
	{"freq", "interface/wifi", []string{"interface"}, rolesTech, "Wireless freq - see iwconfig"},
	{"channel", "interface/wifi", []string{"interface"}, rolesTech, "Wireless channel - see iwconfig"},
	{"sens", "interface/wifi", []string{"interface"}, rolesTech, "Wireless sens - see iwconfig"},
	{"rate", "interface/wifi", []string{"interface"}, rolesTech, "Wireless rate - see iwconfig"},
	{"key", "interface/wifi", []string{"interface"}, rolesTech, "Wireless key - see iwconfig key"},
	{"key1", "interface/wifi", []string{"interface"}, rolesTech, "Wireless key1 - see iwconfig key[1]"},
	{"key2", "interface/wifi", []string{"interface"}, rolesTech, "Wireless key2 - see iwconfig key[2]"},
	{"key3", "interface/wifi", []string{"interface"}, rolesTech, "Wireless key3 - see iwconfig key[3]"},
	{"key4", "interface/wifi", []string{"interface"}, rolesTech, "Wireless key4 - see iwconfig key[4]"},
	{"securitymode", "interface/wifi", []string{"interface"}, rolesTech, "Wireless securitymode - see iwconfig enc"},
	{"iwconfig", "interface/wifi", []string{"interface"}, rolesTech, "Wireless iwconfig - see ifup-wireless"},
	{"iwpriv", "interface/wifi", []string{"interface"}, rolesTech, "Wireless iwpriv - see ifup-wireless"},
}

// AccessorSuffixes are the accessor method names' suffixes that PLCAPI
// spells otherwise than the tag's name capitalized at each _ and -
// (GetInterfaceSecurityMode, not GetInterfaceSecuritymode).
var AccessorSuffixes = map[string]string{
	"securitymode":      "SecurityMode",
	"sliversipv6prefix": "SliversIPv6Prefix",
}
