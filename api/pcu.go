package api

// PCU is a node's power control unit, as PLCAPI's PCU has it. Central
// keeps the record for its site; Orbis never powers a node through it.
type PCU struct {
	PCUID    int64  `json:"pcu_id"`
	SiteID   int64  `json:"site_id"`
	Hostname string `json:"hostname"`
	IP       string `json:"ip"`
	Protocol string `json:"protocol"`
	Username string `json:"username"`
	Password string `json:"password"`
	Notes    string `json:"notes"`
	Model    string `json:"model"`
	// NodeIDs are the nodes the PCU controls, and Ports the port of each.
	NodeIDs     []int64 `json:"node_ids"`
	Ports       []int64 `json:"ports"`
	LastUpdated int64   `json:"last_updated"`
}
