package xmlrpc

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orbisproject/orbis/internal/central/plc"
)

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// EncodeResponse returns the methodResponse carrying v. Go values map to
// XML-RPC as follows: integers to <int> (<i8> beyond 32 bits), floats to
// <double>, strings to <string>, bools to <boolean>, []byte to <base64>,
// time.Time to <dateTime.iso8601> (UTC), nil interfaces and pointers to
// <nil/>, slices and arrays to <array> (a nil slice is an empty array, as
// PLCAPI clients iterate over id lists), maps to <struct> (keys sorted),
// and Go structs to <struct> keyed by their json tag names (api.Site
// carries "site_id", "login_base"...; omitempty and "-" are honoured).
func EncodeResponse(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xmlHeader + "<methodResponse><params><param>")
	if err := encodeValue(&b, reflect.ValueOf(v), 0); err != nil {
		return nil, err
	}
	b.WriteString("</param></params></methodResponse>\n")
	return b.Bytes(), nil
}

// EncodeFault returns the methodResponse carrying the fault f.
func EncodeFault(f *plc.Fault) []byte {
	var b bytes.Buffer
	b.WriteString(xmlHeader + "<methodResponse><fault>")
	encodeValue(&b, reflect.ValueOf(faultStruct(f)), 0) // cannot fail
	b.WriteString("</fault></methodResponse>\n")
	return b.Bytes()
}

// faultStruct is the XML-RPC form of a fault, also used by multicall.
func faultStruct(f *plc.Fault) map[string]any {
	return map[string]any{"faultCode": f.Code, "faultString": f.Msg}
}

// EncodeCall returns the methodCall of method with args, encoded as
// EncodeResponse encodes values.
func EncodeCall(method string, args ...any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xmlHeader + "<methodCall><methodName>")
	escape(&b, method)
	b.WriteString("</methodName><params>")
	for _, a := range args {
		b.WriteString("<param>")
		if err := encodeValue(&b, reflect.ValueOf(a), 0); err != nil {
			return nil, err
		}
		b.WriteString("</param>")
	}
	b.WriteString("</params></methodCall>\n")
	return b.Bytes(), nil
}

// rawXML is a value already encoded: the inside of a <value> element.
type rawXML []byte

// encodeRaw encodes v once, for a result placed in a larger response.
func encodeRaw(v any) (rawXML, error) {
	var b bytes.Buffer
	if err := encodeInner(&b, reflect.ValueOf(v), 1); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var (
	rawXMLType        = reflect.TypeFor[rawXML]()
	timeType          = reflect.TypeFor[time.Time]()
	numberType        = reflect.TypeFor[json.Number]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// encodeValue writes v as a <value> element.
func encodeValue(b *bytes.Buffer, v reflect.Value, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("value nested deeper than %d (a cycle?)", MaxDepth)
	}
	b.WriteString("<value>")
	if err := encodeInner(b, v, depth); err != nil {
		return err
	}
	b.WriteString("</value>")
	return nil
}

// encodeInner writes the typed element of v.
func encodeInner(b *bytes.Buffer, v reflect.Value, depth int) error {
	if !v.IsValid() {
		b.WriteString("<nil/>")
		return nil
	}
	switch t := v.Type(); {
	case t == rawXMLType:
		b.Write(v.Bytes())
		return nil
	case t == timeType:
		b.WriteString("<dateTime.iso8601>" + v.Interface().(time.Time).UTC().Format("20060102T15:04:05") + "</dateTime.iso8601>")
		return nil
	case t == numberType:
		return encodeNumber(b, v.Interface().(json.Number))
	case v.Kind() != reflect.Pointer && v.Kind() != reflect.Interface && t.Implements(textMarshalerType):
		text, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return fmt.Errorf("encode %s: %w", t, err)
		}
		writeString(b, string(text))
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("<nil/>")
			return nil
		}
		return encodeInner(b, v.Elem(), depth)
	case reflect.Bool:
		if v.Bool() {
			b.WriteString("<boolean>1</boolean>")
		} else {
			b.WriteString("<boolean>0</boolean>")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		writeInt(b, v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if v.Uint() > math.MaxInt64 {
			return fmt.Errorf("integer %d exceeds 64-bit signed range", v.Uint())
		}
		writeInt(b, int64(v.Uint()))
	case reflect.Float32, reflect.Float64:
		return writeDouble(b, v.Float())
	case reflect.String:
		writeString(b, v.String())
	case reflect.Slice, reflect.Array:
		return encodeArray(b, v, depth)
	case reflect.Map:
		return encodeMap(b, v, depth)
	case reflect.Struct:
		return encodeStruct(b, v, depth)
	default:
		return fmt.Errorf("cannot encode a %s in XML-RPC", v.Type())
	}
	return nil
}

func writeInt(b *bytes.Buffer, n int64) {
	tag := "int"
	if n < math.MinInt32 || n > math.MaxInt32 {
		tag = "i8"
	}
	b.WriteString("<" + tag + ">" + strconv.FormatInt(n, 10) + "</" + tag + ">")
}

func writeDouble(b *bytes.Buffer, f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("cannot encode %v in XML-RPC", f)
	}
	// XML-RPC has no exponent notation; 'f' with -1 is the shortest exact form.
	b.WriteString("<double>" + strconv.FormatFloat(f, 'f', -1, 64) + "</double>")
	return nil
}

func encodeNumber(b *bytes.Buffer, n json.Number) error {
	if i, err := n.Int64(); err == nil {
		writeInt(b, i)
		return nil
	}
	f, err := n.Float64()
	if err != nil {
		return fmt.Errorf("bad number %q", n)
	}
	return writeDouble(b, f)
}

func writeString(b *bytes.Buffer, s string) {
	b.WriteString("<string>")
	escape(b, s)
	b.WriteString("</string>")
}

// escape writes s as XML character data. Characters XML cannot carry (most
// control characters, invalid UTF-8) become U+FFFD.
func escape(b *bytes.Buffer, s string) {
	xml.EscapeText(b, []byte(s)) // a bytes.Buffer never fails
}

func encodeArray(b *bytes.Buffer, v reflect.Value, depth int) error {
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
		b.WriteString("<base64>" + base64.StdEncoding.EncodeToString(v.Bytes()) + "</base64>")
		return nil
	}
	b.WriteString("<array><data>")
	for i := range v.Len() {
		if err := encodeValue(b, v.Index(i), depth+1); err != nil {
			return err
		}
	}
	b.WriteString("</data></array>")
	return nil
}

func encodeMap(b *bytes.Buffer, v reflect.Value, depth int) error {
	keys := make([]string, 0, v.Len())
	vals := make(map[string]reflect.Value, v.Len())
	for it := v.MapRange(); it.Next(); {
		k, err := mapKey(it.Key())
		if err != nil {
			return err
		}
		keys = append(keys, k)
		vals[k] = it.Value()
	}
	sort.Strings(keys)
	b.WriteString("<struct>")
	for _, k := range keys {
		if err := encodeMember(b, k, vals[k], depth); err != nil {
			return err
		}
	}
	b.WriteString("</struct>")
	return nil
}

// mapKey is a struct member name: string keys as they are, integers in
// decimal.
func mapKey(k reflect.Value) (string, error) {
	switch k.Kind() {
	case reflect.String:
		return k.String(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(k.Uint(), 10), nil
	case reflect.Interface:
		if !k.IsNil() {
			return mapKey(k.Elem())
		}
	}
	return "", fmt.Errorf("cannot encode a map key of type %s", k.Type())
}

func encodeMember(b *bytes.Buffer, name string, v reflect.Value, depth int) error {
	b.WriteString("<member><name>")
	escape(b, name)
	b.WriteString("</name>")
	if err := encodeValue(b, v, depth+1); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	b.WriteString("</member>")
	return nil
}

func encodeStruct(b *bytes.Buffer, v reflect.Value, depth int) error {
	b.WriteString("<struct>")
	for _, f := range fieldsOf(v.Type()) {
		fv, ok := fieldByIndex(v, f.index)
		if !ok || (f.omitEmpty && isEmpty(fv)) {
			continue
		}
		if err := encodeMember(b, f.name, fv, depth); err != nil {
			return err
		}
	}
	b.WriteString("</struct>")
	return nil
}

// fieldByIndex is v.FieldByIndex that reports a nil embedded pointer as
// absent instead of panicking.
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// field is one encoded field of a Go struct.
type field struct {
	name      string
	index     []int
	omitEmpty bool
}

// fieldCache maps a reflect.Type to its []field.
var fieldCache sync.Map

// fieldsOf lists the exported fields of struct type t under their json
// names, embedded structs without a tag flattened (the outer name wins).
func fieldsOf(t reflect.Type) []field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]field)
	}
	var fs []field
	seen := map[string]bool{}
	collectFields(t, nil, &fs, seen, 0)
	fieldCache.Store(t, fs)
	return fs
}

func collectFields(t reflect.Type, index []int, fs *[]field, seen map[string]bool, depth int) {
	var embedded []reflect.StructField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if sf.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			embedded = append(embedded, sf)
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		idx := append(append([]int(nil), index...), i)
		*fs = append(*fs, field{name: name, index: idx, omitEmpty: strings.Contains(","+opts+",", ",omitempty,")})
	}
	for _, sf := range embedded {
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if depth < MaxDepth {
			collectFields(ft, append(append([]int(nil), index...), sf.Index...), fs, seen, depth+1)
		}
	}
}

// isEmpty is encoding/json's notion of empty, for omitempty.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}
