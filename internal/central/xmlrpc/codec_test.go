package xmlrpc

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/testutil"
)

// hostileString holds what a PLCAPI string must carry verbatim.
const hostileString = `a<b && c>d ]]> "q" 'x'; DROP TABLE sites; -- ü 日本 🚀 %_* \n` + "\ttab\r\nline"

func TestRoundTripEveryType(t *testing.T) {
	_, c, _ := toyServer(t)
	ctx := testutil.Context(t)
	lat := 1.5
	tests := []struct {
		name     string
		in, want any
	}{
		{"int", 7, int64(7)},
		{"negative", int32(-5), int64(-5)},
		{"int32 max", math.MaxInt32, int64(math.MaxInt32)},
		{"i8", int64(1) << 40, int64(1) << 40},
		{"i8 min", int64(math.MinInt64), int64(math.MinInt64)},
		{"uint8", uint8(200), int64(200)},
		{"true", true, true},
		{"false", false, false},
		{"double", 3.25, 3.25},
		{"small double", 1e-7, 1e-7},
		{"big double", 1e300, 1e300},
		{"float32", float32(0.5), 0.5},
		{"empty string", "", ""},
		{"hostile string", hostileString, hostileString},
		{"nil", nil, nil},
		{"nil pointer", (*float64)(nil), nil},
		{"pointer", &lat, 1.5},
		{"bytes", []byte("ssh-rsa AAAA"), "ssh-rsa AAAA"},
		{"time", time.Unix(1704164645, 0), int64(1704164645)},
		{"int64 slice", []int64{1, 2, 3}, []any{int64(1), int64(2), int64(3)}},
		{"nil slice", []int64(nil), []any{}},
		{"empty map", map[string]any{}, map[string]any{}},
		{"int keys", map[int64]string{2: "b"}, map[string]any{"2": "b"}},
		{"nested", map[string]any{"a": []any{1, map[string]any{"b": nil, "c": []string{"<&>"}}}},
			map[string]any{"a": []any{int64(1), map[string]any{"b": nil, "c": []any{"<&>"}}}}},
		{"struct", struct {
			ID      int64  `json:"id"`
			Skip    string `json:"-"`
			Omitted string `json:"omitted,omitempty"`
			Plain   bool
			hidden  int
		}{ID: 4, Skip: "x", Plain: true, hidden: 1}, map[string]any{"id": int64(4), "Plain": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Call(ctx, "EchoOne", adminAuth, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestRecordsUseJSONNames(t *testing.T) {
	_, c, _ := toyServer(t)
	got, err := c.Call(testutil.Context(t), "Records", anonAuth)
	if err != nil {
		t.Fatal(err)
	}
	site := got.(map[string]any)["sites"].([]any)[0].(map[string]any)
	for k, want := range map[string]any{
		"site_id": int64(1), "name": "Site <One> & co", "login_base": "one", "latitude": 48.85,
		"longitude": nil, "person_ids": []any{int64(1), int64(2)}, "node_ids": []any{}, "is_public": false,
	} {
		if !reflect.DeepEqual(site[k], want) {
			t.Errorf("site[%q] = %#v, want %#v", k, site[k], want)
		}
	}
	sliver := got.(map[string]any)["slivers"].(map[string]any)["slivers"].([]any)[0].(map[string]any)
	rspec := sliver["rspec"].(map[string]any)
	want := map[string]any{
		"cpu_shares": int64(5),
		"ports":      []any{map[string]any{"proto": "tcp", "port": int64(8080)}},
		"privileges": map[string]any{}, // omitempty does not drop a struct, as in encoding/json
	}
	if !reflect.DeepEqual(rspec, want) {
		t.Errorf("rspec = %#v, want %#v (omitempty fields dropped)", rspec, want)
	}
}

func TestDecodeForms(t *testing.T) {
	call := func(values string) string {
		return `<?xml version="1.0"?><methodCall><methodName> M </methodName><params>` + values + `</params></methodCall>`
	}
	param := func(v string) string { return "<param><value>" + v + "</value></param>" }
	tests := []struct {
		name, body string
		want       []any
	}{
		{"bare text", call(param(" two words ")), []any{" two words "}},
		{"empty value", call(param("")), []any{""}},
		{"i4 with space", call(param("<i4> 42 </i4>")), []any{int64(42)}},
		{"int and ws", call(param("\n  <int>-1</int>\n")), []any{int64(-1)}},
		{"i8", call(param("<i8>1099511627776</i8>")), []any{int64(1) << 40}},
		{"boolean", call(param("<boolean>1</boolean>") + param("<boolean>0</boolean>")), []any{true, false}},
		{"double", call(param("<double>-0.5</double>")), []any{-0.5}},
		{"entities", call(param("<string>&lt;&amp;&gt;&#x41;&#66;&quot;</string>")), []any{`<&>AB"`}},
		{"cdata", call(param("<string><![CDATA[<x>&]]></string>")), []any{"<x>&"}},
		{"base64 with newlines", call(param("<base64>c3No\nLXJz\r\nYQ==</base64>")), []any{"ssh-rsa"}},
		{"dateTime", call(param("<dateTime.iso8601>20240102T03:04:05</dateTime.iso8601>")), []any{int64(1704164645)}},
		{"dateTime dashed", call(param("<dateTime.iso8601>2024-01-02T03:04:05</dateTime.iso8601>")), []any{int64(1704164645)}},
		{"dateTime zone", call(param("<dateTime.iso8601>2024-01-02T04:04:05+01:00</dateTime.iso8601>")), []any{int64(1704164645)}},
		{"nil", call(param("<nil/>")), []any{nil}},
		{"ex:nil", call(`<param><value><ex:nil xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions"/></value></param>`), []any{nil}},
		{"empty struct and array", call(param("<struct></struct>") + param("<array><data/></array>")), []any{map[string]any{}, []any{}}},
		{"member value first", call(param("<struct><member><value><int>1</int></value><name>a</name></member></struct>")), []any{map[string]any{"a": int64(1)}}},
		{"no params", `<methodCall><methodName>M</methodName></methodCall>`, []any(nil)},
		{"comments", `<!-- c --><methodCall><methodName>M</methodName><!-- c --><params/></methodCall><!-- c -->`, []any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, params, err := DecodeCall(strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if method != "M" || !reflect.DeepEqual(params, tt.want) {
				t.Errorf("got %q %#v, want M %#v", method, params, tt.want)
			}
		})
	}
}

func TestDecodeLatin1(t *testing.T) {
	body := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><methodCall><methodName>M</methodName><params><param><value>caf\xe9</value></param></params></methodCall>"
	_, params, err := DecodeCall(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if params[0] != "café" {
		t.Errorf("got %q, want café", params[0])
	}
}

// nested returns n arrays nested in one another.
func nested(n int) string {
	return strings.Repeat("<array><data><value>", n) + "x" + strings.Repeat("</value></data></array>", n)
}

func TestDecodeRefuses(t *testing.T) {
	call := func(v string) string {
		return `<methodCall><methodName>M</methodName><params><param><value>` + v + `</value></param></params></methodCall>`
	}
	tests := []struct{ name, body, msg string }{
		{"empty body", "", "empty"},
		{"not xml", "hello", "unexpected text"},
		{"truncated", `<methodCall><methodName>M</methodName><params>`, "EOF"},
		{"wrong root", `<methodResponse/>`, "methodCall"},
		{"unclosed tag", call("<int>1</i4>"), "syntax"},
		{"unknown type", call("<float>1</float>"), "unknown value type"},
		{"bad int", call("<int>1x</int>"), "bad <int>"},
		{"int overflow", call("<i8>99999999999999999999</i8>"), "bad <i8>"},
		{"bad boolean", call("<boolean>yes</boolean>"), "bad <boolean>"},
		{"NaN", call("<double>NaN</double>"), "bad <double>"},
		{"infinity", call("<double>Inf</double>"), "bad <double>"},
		{"bad date", call("<dateTime.iso8601>yesterday</dateTime.iso8601>"), "bad <dateTime"},
		{"bad base64", call("<base64>!!</base64>"), "bad <base64>"},
		{"two types", call("<int>1</int><int>2</int>"), "two types"},
		{"text beside type", call("x<int>1</int>"), "text beside"},
		{"element in string", call("<string>a<b/></string>"), "unexpected <b>"},
		{"array without data", call("<array><value>1</value></array>"), "want <data>"},
		{"member without value", call("<struct><member><name>a</name></member></struct>"), "needs a <name> and a <value>"},
		{"non-empty nil", call("<nil>x</nil>"), "empty"},
		{"too deep", call(nested(MaxDepth + 1)), "nested deeper"},
		{"undefined entity", call("<string>&xxe;</string>"), "entity"},
		{"doctype", `<!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>` + call("<string>&b;</string>"), "DOCTYPE"},
		{"external entity", `<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + call("<string>&x;</string>"), "DOCTYPE"},
		{"content after root", call("1") + "<x/>", "after the root"},
		{"unsupported charset", `<?xml version="1.0" encoding="EBCDIC"?>` + call("1"), "charset"},
		{"empty method", `<methodCall><methodName> </methodName></methodCall>`, "empty methodName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DecodeCall(strings.NewReader(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got error %v, want one containing %q", err, tt.msg)
			}
		})
	}
}

func TestDepthLimitAllowsMaxDepth(t *testing.T) {
	body := `<methodCall><methodName>M</methodName><params><param><value>` + nested(MaxDepth) + `</value></param></params></methodCall>`
	if _, _, err := DecodeCall(strings.NewReader(body)); err != nil {
		t.Fatalf("%d levels refused: %v", MaxDepth, err)
	}
}

func TestEncodeRefuses(t *testing.T) {
	a := []any{nil}
	a[0] = a
	for _, v := range []any{math.NaN(), math.Inf(1), make(chan int), uint64(math.MaxUint64), a, map[bool]int{true: 1}} {
		if _, err := EncodeResponse(v); err == nil {
			t.Errorf("EncodeResponse(%T) succeeded", v)
		}
	}
}

func TestResponseRoundTrip(t *testing.T) {
	b, err := EncodeResponse(map[string]any{"s": hostileString, "n": []any{nil, int64(1) << 50}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeResponse(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"s": hostileString, "n": []any{nil, int64(1) << 50}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
	_, err = DecodeResponse(strings.NewReader(string(EncodeFault(plc.Faultf(108, "no <way> & \"never\"")))))
	if f, ok := errors.AsType[*plc.Fault](err); !ok || f.Code != 108 || f.Msg != `no <way> & "never"` {
		t.Errorf("fault decoded as %v", err)
	}
}
