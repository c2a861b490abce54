package api

// AddressType is a kind of postal address ("Billing", "Shipping"), as
// PLCAPI's AddressType has it.
type AddressType struct {
	AddressTypeID int64  `json:"address_type_id"`
	Name          string `json:"name"`
	Description   string `json:"description"`
}

// Address is a postal address of a site, as PLCAPI's Address has it.
type Address struct {
	AddressID  int64  `json:"address_id"`
	SiteID     int64  `json:"site_id"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
	Line3      string `json:"line3"`
	City       string `json:"city"`
	State      string `json:"state"`
	PostalCode string `json:"postalcode"`
	Country    string `json:"country"`
	// AddressTypeIDs are the address's types, and AddressTypes their
	// names, in the same order.
	AddressTypeIDs []int64  `json:"address_type_ids"`
	AddressTypes   []string `json:"address_types"`
}
