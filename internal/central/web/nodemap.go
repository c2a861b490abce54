package web

import "github.com/orbisproject/orbis/api"

// The node map is static/world.svg (Natural Earth's 1:110m land, public
// domain) with a point per node whose site has a latitude and longitude,
// in the same equirectangular projection: mapScale units a degree.
const (
	mapWidth  = 720
	mapHeight = 360
	mapScale  = 2
)

// mapPoint is one node on the map.
type mapPoint struct {
	X, Y   float64
	NodeID int64
	// Label names the node and its site, for the point's tooltip.
	Label string
	// On says the node is the slice's; otherwise it is a pick, linking to
	// its checkbox in the picker's table.
	On bool
}

// nodeMap is the map of a slice's nodes and the picker's.
type nodeMap struct {
	Width, Height int
	Points        []mapPoint
	// Unplaced counts the nodes whose site has no location.
	Unplaced int
}

// newNodeMap places the slice's nodes (on) and the picker's (pick) by
// their sites' locations.
func newNodeMap(sites []api.Site, on, pick []*nodeRow) nodeMap {
	loc := map[int64]api.Site{}
	for _, s := range sites {
		if s.Latitude != nil && s.Longitude != nil {
			loc[s.SiteID] = s
		}
	}
	m := nodeMap{Width: mapWidth, Height: mapHeight}
	add := func(rows []*nodeRow, isOn bool) {
		for _, r := range rows {
			s, ok := loc[r.SiteID]
			lat, lon := 0.0, 0.0
			if ok {
				lat, lon = *s.Latitude, *s.Longitude
			}
			if !ok || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
				m.Unplaced++
				continue
			}
			m.Points = append(m.Points, mapPoint{X: (lon + 180) * mapScale, Y: (90 - lat) * mapScale,
				NodeID: r.NodeID, Label: r.Hostname + " (" + r.Site + ")", On: isOn})
		}
	}
	add(pick, false)
	add(on, true)
	return m
}
