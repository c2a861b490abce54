package api

// Interface is a network interface of a node, as PLCAPI's Interface has
// it. Central keeps and returns it; Orbis nodes configure their own
// network and do not read it.
type Interface struct {
	InterfaceID int64  `json:"interface_id"`
	NodeID      int64  `json:"node_id"`
	IsPrimary   bool   `json:"is_primary"`
	Type        string `json:"type"`   // ipv4 or ipv6
	Method      string `json:"method"` // static, dhcp, proxy, tap, ipmi, unknown
	IP          string `json:"ip"`
	MAC         string `json:"mac"`
	Gateway     string `json:"gateway"`
	Network     string `json:"network"`
	Broadcast   string `json:"broadcast"`
	Netmask     string `json:"netmask"`
	DNS1        string `json:"dns1"`
	DNS2        string `json:"dns2"`
	// BWLimit is the interface's bandwidth limit in bits per second, nil
	// for none.
	BWLimit     *int64 `json:"bwlimit"`
	Hostname    string `json:"hostname"`
	LastUpdated int64  `json:"last_updated"`
	// InterfaceTagIDs are its tags.
	InterfaceTagIDs []int64 `json:"interface_tag_ids"`
}
