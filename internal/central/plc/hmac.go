package plc

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"sort"
	"strconv"
	"strings"
)

// HMACMaxSkew is how far, in seconds, the time of a "sha256:" node auth
// may be from central's clock.
const HMACMaxSkew = 300

// HMACPrefix marks Orbis's HMAC-SHA256 node auth value.
const HMACPrefix = "sha256:"

// Canonical is PlanetLab's canonical string of a call's arguments (auth
// excluded): the Python str() form of every leaf value, found by walking
// lists in order and structs' values (not their keys), sorted, joined
// with nothing between, and wrapped in "[" "]". Leaves print as Python
// prints them: 12, True, None, 1.5, 1e+16.
func Canonical(args []any) string {
	var leaves []string
	collectLeaves(args, &leaves)
	sort.Strings(leaves)
	return "[" + strings.Join(leaves, "") + "]"
}

func collectLeaves(v any, out *[]string) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			collectLeaves(e, out)
		}
	case map[string]any:
		for _, e := range x {
			collectLeaves(e, out)
		}
	default:
		*out = append(*out, pyStr(x))
	}
}

// pyStr is Python's str() of a leaf value.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	case float64:
		return pyFloat(x)
	}
	if n, ok := AsInt(v); ok {
		return strconv.FormatInt(n, 10)
	}
	return ""
}

// pyFloat is Python 3's repr of a float: the shortest digits that read
// back, positional between 1e-4 and 1e16, else with an exponent of at
// least two digits.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		es := strconv.Itoa(exp)
		if len(es) < 2 {
			es = "0" + es
		}
		return mant + "e" + sign + es
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// LegacyHMAC is PlanetLab's node auth value: the hex HMAC-SHA1 of
// Canonical(args) keyed with the node's secret (its UTF-8 bytes).
func LegacyHMAC(secret string, args []any) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(Canonical(args)))
	return hex.EncodeToString(m.Sum(nil))
}

// HMACValue is Orbis's node auth value for a call of method at time t
// (Unix seconds) with args: "sha256:" and the hex HMAC-SHA256, keyed with
// the node's secret, of method, "\n", t in decimal, "\n", Canonical(args).
// The auth struct carries t as "time". Unlike the legacy value it binds
// the method and expires: a captured call cannot be replayed as another
// method, nor after HMACMaxSkew seconds.
func HMACValue(secret, method string, t int64, args []any) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method + "\n" + strconv.FormatInt(t, 10) + "\n" + Canonical(args)))
	return HMACPrefix + hex.EncodeToString(m.Sum(nil))
}

// NodeAuth returns the auth struct a node with secret sends to call
// method with args at time t, with the HMAC-SHA256 scheme.
func NodeAuth(nodeID int64, secret, method string, t int64, args []any) map[string]any {
	return map[string]any{
		"AuthMethod": "hmac",
		"node_id":    nodeID,
		"time":       t,
		"value":      HMACValue(secret, method, t, args),
	}
}
