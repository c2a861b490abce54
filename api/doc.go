// Package api holds the wire types shared by Orbis's programs and their
// clients: the node manager's rspecs and rcaps, and (later) central's JSON API.
// It imports nothing from internal/.
package api
