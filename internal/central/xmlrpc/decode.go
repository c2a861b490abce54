package xmlrpc

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// MaxDepth bounds the nesting of arrays and structs in a request or
// response, so that a hostile body cannot exhaust the stack.
const MaxDepth = plc.MaxDepth

// DecodeCall reads an XML-RPC methodCall from r and returns the method name
// and its parameters as generic values:
//
//	<int>, <i4>, <i8> (also <i1>, <i2>)  int64
//	<boolean>                            bool
//	<string>, bare text                  string
//	<double>                             float64 (NaN and infinities refused)
//	<dateTime.iso8601>                   int64 Unix seconds (no zone means UTC),
//	                                     since PLCAPI times are Unix seconds
//	<base64>                             string of the decoded bytes
//	<struct>                             map[string]any (a repeated name: last wins)
//	<array>                              []any
//	<nil/> (the nil extension)           nil
//
// A DOCTYPE is refused, and encoding/xml expands no entity but the five
// predefined ones and character references, so neither entity expansion
// nor external entities are possible. Errors describe what is wrong with
// the document and are safe to show to the client.
func DecodeCall(r io.Reader) (method string, params []any, err error) {
	p := newParser(r)
	if err := p.root("methodCall"); err != nil {
		return "", nil, err
	}
	if err := p.expectStart("methodName"); err != nil {
		return "", nil, err
	}
	if method, err = p.text(); err != nil {
		return "", nil, err
	}
	method = strings.TrimSpace(method)
	if method == "" {
		return "", nil, errors.New("empty methodName")
	}
	for {
		tok, err := p.element()
		if err != nil {
			return "", nil, err
		}
		if _, ok := tok.(xml.EndElement); ok {
			break
		}
		if start := tok.(xml.StartElement); start.Name.Local != "params" {
			return "", nil, fmt.Errorf("unexpected <%s> in methodCall", start.Name.Local)
		}
		if params, err = p.params(); err != nil {
			return "", nil, err
		}
	}
	return method, params, p.end()
}

// DecodeResponse reads an XML-RPC methodResponse from r: its one value, or
// the fault as a *plc.Fault error.
func DecodeResponse(r io.Reader) (any, error) {
	p := newParser(r)
	if err := p.root("methodResponse"); err != nil {
		return nil, err
	}
	start, err := p.startElement()
	if err != nil {
		return nil, err
	}
	var v any
	switch start.Name.Local {
	case "params":
		params, err := p.params()
		if err != nil {
			return nil, err
		}
		if len(params) != 1 {
			return nil, fmt.Errorf("response has %d values, want 1", len(params))
		}
		v = params[0]
	case "fault":
		if v, err = p.faultValue(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unexpected <%s> in methodResponse", start.Name.Local)
	}
	if err := p.expectEnd(); err != nil {
		return nil, err
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	if f, ok := v.(error); ok {
		return nil, f
	}
	return v, nil
}

// parser reads XML-RPC from a token stream with bounded nesting.
type parser struct {
	d     *xml.Decoder
	depth int
}

func newParser(r io.Reader) *parser {
	d := xml.NewDecoder(r)
	d.Strict = true
	d.CharsetReader = charsetReader
	return &parser{d: d}
}

// next returns the next start element, end element or character data,
// skipping comments and processing instructions and refusing directives.
func (p *parser) next() (xml.Token, error) {
	for {
		tok, err := p.d.Token()
		if err != nil {
			if err == io.EOF {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement, xml.EndElement, xml.CharData:
			return t, nil
		case xml.Directive:
			return nil, errors.New("DOCTYPE and other directives are not allowed")
		}
	}
}

// element returns the next start or end element, refusing text other than
// white space before it.
func (p *parser) element() (xml.Token, error) {
	for {
		tok, err := p.next()
		if err != nil {
			return nil, err
		}
		if cd, ok := tok.(xml.CharData); ok {
			if len(strings.TrimSpace(string(cd))) != 0 {
				return nil, fmt.Errorf("unexpected text %q", truncate(string(cd)))
			}
			continue
		}
		return tok, nil
	}
}

func (p *parser) startElement() (xml.StartElement, error) {
	tok, err := p.element()
	if err != nil {
		return xml.StartElement{}, err
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return start, fmt.Errorf("unexpected </%s>", tok.(xml.EndElement).Name.Local)
	}
	return start, nil
}

func (p *parser) expectStart(name string) error {
	start, err := p.startElement()
	if err != nil {
		return err
	}
	if start.Name.Local != name {
		return fmt.Errorf("got <%s>, want <%s>", start.Name.Local, name)
	}
	return nil
}

func (p *parser) expectEnd() error {
	tok, err := p.element()
	if err != nil {
		return err
	}
	if start, ok := tok.(xml.StartElement); ok {
		return fmt.Errorf("unexpected <%s>", start.Name.Local)
	}
	return nil
}

// root reads up to the document's root element, which must be name.
func (p *parser) root(name string) error {
	if err := p.expectStart(name); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.New("empty request body")
		}
		return err
	}
	return nil
}

// end checks that nothing but white space, comments and processing
// instructions follow the root element.
func (p *parser) end() error {
	for {
		tok, err := p.next()
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if cd, ok := tok.(xml.CharData); !ok || len(strings.TrimSpace(string(cd))) != 0 {
			return errors.New("content after the root element")
		}
	}
}

// text reads character data up to the end of the current element.
func (p *parser) text() (string, error) {
	var b strings.Builder
	for {
		tok, err := p.next()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.StartElement:
			return "", fmt.Errorf("unexpected <%s> in a text element", t.Name.Local)
		case xml.EndElement:
			return b.String(), nil
		}
	}
}

// params reads <param><value>...</value></param>... up to </params>.
func (p *parser) params() ([]any, error) {
	params := []any{}
	for {
		tok, err := p.element()
		if err != nil {
			return nil, err
		}
		if _, ok := tok.(xml.EndElement); ok {
			return params, nil
		}
		if start := tok.(xml.StartElement); start.Name.Local != "param" {
			return nil, fmt.Errorf("got <%s>, want <param>", start.Name.Local)
		}
		if err := p.expectStart("value"); err != nil {
			return nil, err
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if err := p.expectEnd(); err != nil {
			return nil, err
		}
		params = append(params, v)
	}
}

// value reads the rest of a <value> element whose start was read.
func (p *parser) value() (any, error) {
	var text strings.Builder
	var v any
	typed := false
	for {
		tok, err := p.next()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			text.Write(t)
		case xml.StartElement:
			if typed {
				return nil, fmt.Errorf("a value holds two types (<%s>)", t.Name.Local)
			}
			if v, err = p.typed(t.Name.Local); err != nil {
				return nil, err
			}
			typed = true
		case xml.EndElement:
			if !typed {
				return text.String(), nil
			}
			if strings.TrimSpace(text.String()) != "" {
				return nil, errors.New("text beside a typed value")
			}
			return v, nil
		}
	}
}

// typed reads the rest of a typed element (<int>, <struct>...) in a value.
func (p *parser) typed(name string) (any, error) {
	switch name {
	case "struct", "array":
		if p.depth++; p.depth > MaxDepth {
			return nil, fmt.Errorf("values nested deeper than %d", MaxDepth)
		}
		defer func() { p.depth-- }()
		if name == "struct" {
			return p.structValue()
		}
		return p.arrayValue()
	case "nil":
		s, err := p.text()
		if err == nil && strings.TrimSpace(s) != "" {
			err = errors.New("<nil/> must be empty")
		}
		return nil, err
	}
	s, err := p.text()
	if err != nil {
		return nil, err
	}
	return scalar(name, s)
}

// scalar converts the text of a scalar element.
func scalar(name, s string) (any, error) {
	switch name {
	case "string":
		return s, nil
	case "int", "i4", "i8", "i1", "i2":
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad <%s> %q", name, truncate(s))
		}
		return n, nil
	case "boolean":
		switch strings.TrimSpace(s) {
		case "1", "true":
			return true, nil
		case "0", "false":
			return false, nil
		}
		return nil, fmt.Errorf("bad <boolean> %q (want 0 or 1)", truncate(s))
	case "double":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("bad <double> %q", truncate(s))
		}
		return f, nil
	case "dateTime.iso8601":
		return parseTime(s)
	case "base64":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, errors.New("bad <base64>")
		}
		return string(b), nil
	}
	return nil, fmt.Errorf("unknown value type <%s>", name)
}

// timeLayouts are the forms of dateTime.iso8601 seen in the wild.
var timeLayouts = []string{
	"20060102T15:04:05", "20060102T150405", "2006-01-02T15:04:05",
	"20060102T15:04:05Z07:00", "20060102T150405Z07:00", time.RFC3339,
}

// parseTime returns a dateTime.iso8601 as Unix seconds; no zone means UTC.
func parseTime(s string) (any, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Unix(), nil
		}
	}
	return nil, fmt.Errorf("bad <dateTime.iso8601> %q", truncate(s))
}

// structValue reads <member><name>n</name><value>v</value></member>... up
// to </struct>.
func (p *parser) structValue() (any, error) {
	m := map[string]any{}
	for {
		tok, err := p.element()
		if err != nil {
			return nil, err
		}
		if _, ok := tok.(xml.EndElement); ok {
			return m, nil
		}
		if start := tok.(xml.StartElement); start.Name.Local != "member" {
			return nil, fmt.Errorf("got <%s> in a struct, want <member>", start.Name.Local)
		}
		name, v, err := p.member()
		if err != nil {
			return nil, err
		}
		m[name] = v
	}
}

// member reads the name and value of a struct member, in either order.
func (p *parser) member() (name string, v any, err error) {
	var haveName, haveValue bool
	for {
		tok, err := p.element()
		if err != nil {
			return "", nil, err
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			if !haveName || !haveValue {
				return "", nil, errors.New("a struct member needs a <name> and a <value>")
			}
			return name, v, nil
		}
		switch {
		case start.Name.Local == "name" && !haveName:
			name, err = p.text()
			haveName = true
		case start.Name.Local == "value" && !haveValue:
			v, err = p.value()
			haveValue = true
		default:
			return "", nil, fmt.Errorf("unexpected <%s> in a struct member", start.Name.Local)
		}
		if err != nil {
			return "", nil, err
		}
	}
}

// arrayValue reads <data><value>...</value>...</data></array>.
func (p *parser) arrayValue() (any, error) {
	if err := p.expectStart("data"); err != nil {
		return nil, err
	}
	a := []any{}
	for {
		tok, err := p.element()
		if err != nil {
			return nil, err
		}
		if _, ok := tok.(xml.EndElement); ok {
			break
		}
		if start := tok.(xml.StartElement); start.Name.Local != "value" {
			return nil, fmt.Errorf("got <%s> in an array, want <value>", start.Name.Local)
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
	}
	return a, p.expectEnd()
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
