package plc

import (
	"fmt"
	"math"
	"reflect"
	"strings"
)

// Arguments arrive as generic values (int64, float64, string, bool, nil,
// []any, map[string]any); this file turns them into Go values, with a
// fault 102 naming the argument or field when one has the wrong type, and
// turns results back into generic values.

// AsInt returns v, a generic value of either codec, as an integer: an
// int64 (XML-RPC), an int, or a float64 (JSON) that is a whole number a
// float64 holds exactly (|x| < 2^53). A float with a fraction, or too
// large to be exact, is no integer: truncating it would act on an ID or
// a time the caller did not send.
func AsInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	}
	return 0, false
}

// asBool returns v as a boolean; 0 and 1 are accepted, as Python clients
// sometimes send them.
func asBool(v any) (bool, bool) {
	if b, ok := v.(bool); ok {
		return b, true
	}
	if i, ok := AsInt(v); ok && (i == 0 || i == 1) {
		return i == 1, true
	}
	return false, false
}

// asFloat returns v as a float64.
func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	}
	return 0, false
}

// typeName names v's type as a PLCAPI client would see it.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case int64, int, int32:
		return "int"
	case float64:
		return "double"
	case string:
		return "string"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "struct"
	}
	return fmt.Sprintf("%T", v)
}

func badArg(what, want string, v any) *Fault {
	return Faultf(FaultInvalidArg, "%s: want %s, got %s", what, want, typeName(v))
}

// argInt returns args[i] as an integer; what names it in a fault.
func argInt(args []any, i int, what string) (int64, error) {
	if i >= len(args) {
		return 0, Faultf(FaultArgCount, "missing argument %s", what)
	}
	n, ok := AsInt(args[i])
	if !ok {
		return 0, badArg(what, "an int", args[i])
	}
	return n, nil
}

// argString returns args[i] as a string.
func argString(args []any, i int, what string) (string, error) {
	if i >= len(args) {
		return "", Faultf(FaultArgCount, "missing argument %s", what)
	}
	s, ok := args[i].(string)
	if !ok {
		return "", badArg(what, "a string", args[i])
	}
	return s, nil
}

// argRef returns args[i] as a reference to a record: an id (int64) or a
// name (string).
func argRef(args []any, i int, what string) (any, error) {
	if i >= len(args) {
		return nil, Faultf(FaultArgCount, "missing argument %s", what)
	}
	if n, ok := AsInt(args[i]); ok {
		return n, nil
	}
	if s, ok := args[i].(string); ok {
		return s, nil
	}
	return nil, badArg(what, "an id or a name", args[i])
}

// argRefs returns args[i] as a list of references (ids or names); a
// single reference is taken as a list of one.
func argRefs(args []any, i int, what string) ([]any, error) {
	if i >= len(args) {
		return nil, Faultf(FaultArgCount, "missing argument %s", what)
	}
	list, ok := args[i].([]any)
	if !ok {
		list = []any{args[i]}
	}
	refs := make([]any, 0, len(list))
	for j := range list {
		r, err := argRef(list, j, fmt.Sprintf("%s[%d]", what, j))
		if err != nil {
			return nil, err
		}
		refs = append(refs, r)
	}
	return refs, nil
}

// optArg returns args[i], or nil if absent.
func optArg(args []any, i int) any {
	if i < len(args) {
		return args[i]
	}
	return nil
}

// Generic turns v into the generic values the encodings carry: structs
// become map[string]any keyed by their json tags (omitempty honoured),
// slices []any (nil slices empty), integers int64, nil pointers nil.
func Generic(v any) any { return generic(reflect.ValueOf(v)) }

func generic(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Invalid:
		return nil
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return generic(v.Elem())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int64(v.Uint())
	case reflect.Float32, reflect.Float64:
		return v.Float()
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Slice, reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = generic(v.Index(i))
		}
		return out
	case reflect.Map:
		out := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			out[fmt.Sprint(it.Key().Interface())] = generic(it.Value())
		}
		return out
	case reflect.Struct:
		return genericStruct(v)
	}
	return fmt.Sprint(v.Interface())
}

func genericStruct(v reflect.Value) map[string]any {
	out := map[string]any{}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, omitEmpty, ok := jsonName(f)
		if !ok {
			continue
		}
		fv := v.Field(i)
		if omitEmpty && fv.IsZero() {
			continue
		}
		out[name] = generic(fv)
	}
	return out
}

// jsonName returns a struct field's json name and omitempty flag; ok is
// false for unexported or "-" fields.
func jsonName(f reflect.StructField) (name string, omitEmpty, ok bool) {
	if !f.IsExported() {
		return "", false, false
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false, false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" {
		name = f.Name
	}
	return name, strings.Contains(","+opts+",", ",omitempty,"), true
}
