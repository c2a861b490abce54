package web

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// decode fills out (a pointer) from v, a method's result in the generic
// values the encodings carry (maps keyed by json names, lists, int64,
// float64, string, bool), as JSON decoding would, without the round
// trip through JSON text: the portal's large pages spend their time
// here otherwise.
func decode(v any, out any) error {
	dst := reflect.ValueOf(out)
	if dst.Kind() != reflect.Pointer || dst.IsNil() {
		return fmt.Errorf("decode into %T: not a pointer", out)
	}
	return decodeValue(reflect.ValueOf(v), dst.Elem())
}

func decodeValue(src, dst reflect.Value) error {
	for src.IsValid() && src.Kind() == reflect.Interface {
		src = src.Elem()
	}
	if !src.IsValid() {
		dst.SetZero()
		return nil
	}
	switch dst.Kind() {
	case reflect.Interface:
		dst.Set(src)
		return nil
	case reflect.Pointer:
		p := reflect.New(dst.Type().Elem())
		if err := decodeValue(src, p.Elem()); err != nil {
			return err
		}
		dst.Set(p)
		return nil
	case reflect.Struct:
		return decodeStruct(src, dst)
	case reflect.Slice:
		if src.Kind() != reflect.Slice && src.Kind() != reflect.Array {
			return fmt.Errorf("%s for %s", src.Type(), dst.Type())
		}
		s := reflect.MakeSlice(dst.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			if err := decodeValue(src.Index(i), s.Index(i)); err != nil {
				return err
			}
		}
		dst.Set(s)
		return nil
	}
	return decodeScalar(src, dst)
}

func decodeScalar(src, dst reflect.Value) error {
	switch {
	case dst.Kind() == reflect.String && src.Kind() == reflect.String,
		dst.Kind() == reflect.Bool && src.Kind() == reflect.Bool:
		dst.Set(src.Convert(dst.Type()))
	case dst.CanInt() && src.CanInt():
		dst.SetInt(src.Int())
	case dst.CanInt() && src.CanFloat():
		dst.SetInt(int64(src.Float()))
	case dst.CanFloat() && src.CanFloat():
		dst.SetFloat(src.Float())
	case dst.CanFloat() && src.CanInt():
		dst.SetFloat(float64(src.Int()))
	default:
		return fmt.Errorf("%s for %s", src.Type(), dst.Type())
	}
	return nil
}

func decodeStruct(src, dst reflect.Value) error {
	if src.Kind() != reflect.Map || src.Type().Key().Kind() != reflect.String {
		return fmt.Errorf("%s for %s", src.Type(), dst.Type())
	}
	fields := jsonFields(dst.Type())
	it := src.MapRange()
	for it.Next() {
		i, ok := fields[it.Key().String()]
		if !ok {
			continue
		}
		if err := decodeValue(it.Value(), dst.Field(i)); err != nil {
			return fmt.Errorf("%s: %w", it.Key().String(), err)
		}
	}
	return nil
}

// fieldCache maps a struct type to its fields' indexes by json name.
var fieldCache sync.Map

func jsonFields(t reflect.Type) map[string]int {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]int)
	}
	m := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = i
	}
	fieldCache.Store(t, m)
	return m
}
