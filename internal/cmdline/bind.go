package cmdline

import (
	"maps"
	"reflect"

	"github.com/urfave/cli/v2"
)

// FieldFlags maps each field of the struct *cfg that a flag of flags sets
// through its Destination, by the field's path ("Recipe.WeightDecay"), to
// that flag ("--wd"), so that a flag is declared once, beside its field,
// and InFlags can still name it. more adds the fields a command sets by
// converting a flag's value (--lr-mode cosine sets Recipe.Cosine); it wins
// over a Destination.
func FieldFlags(cfg any, flags []cli.Flag, more map[string]string) map[string]string {
	type place struct {
		addr uintptr
		typ  reflect.Type
	}
	paths := map[place]string{}
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		for i := range v.NumField() {
			if !v.Type().Field(i).IsExported() {
				continue
			}
			f, path := v.Field(i), prefix+v.Type().Field(i).Name
			// A struct and its first field share an address; the type tells them apart.
			paths[place{f.Addr().Pointer(), f.Type()}] = path
			if f.Kind() == reflect.Struct {
				walk(f, path+".")
			}
		}
	}
	walk(reflect.ValueOf(cfg).Elem(), "")
	out := map[string]string{}
	for _, f := range flags {
		dest := reflect.ValueOf(f).Elem().FieldByName("Destination")
		if !dest.IsValid() || dest.IsNil() {
			continue
		}
		if path, ok := paths[place{dest.Pointer(), dest.Type().Elem()}]; ok {
			out[path] = "--" + f.Names()[0]
		}
	}
	maps.Copy(out, more)
	return out
}
