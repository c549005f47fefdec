package train

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
)

// settings identifies what a checkpoint is valid for: cfg as JSON (its
// groups as nested objects, their fields under their Go names), but for
// Recipe.Epochs, the run folder and the log, with the model file replaced
// by a hash of its content. Defaults that depend on the machine
// (Engine.Threads 0: one per core) are kept as asked, so that a run
// resumes on another machine.
func settings(cfg Config) string {
	model, _ := os.ReadFile(cfg.Model)
	sum := sha256.Sum256(model)
	c := cfg
	c.Recipe.Epochs, c.Out, c.Resume, c.Log, c.Model = 0, "", false, nil, hex.EncodeToString(sum[:8])
	b, _ := json.Marshal(c)
	return string(b)
}

// decodeSettings reads settings written by settings, or by a version of
// train whose Config was flat (every field at the top, Data and DataDir
// naming the set and its folder): those are moved into their groups, so
// that a checkpoint made before Config was grouped still resumes.
func decodeSettings(s string) (Config, error) {
	var c Config
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &keys); err != nil {
		return c, err
	}
	if _, grouped := keys["Recipe"]; grouped {
		return c, json.Unmarshal([]byte(s), &c)
	}
	groups := map[string]map[string]json.RawMessage{"Data": {}, "Recipe": {}, "Engine": {}}
	top := map[string]any{}
	for k, v := range keys {
		switch k {
		case "Data":
			groups["Data"]["Set"] = v
			continue
		case "DataDir":
			groups["Data"]["Dir"] = v
			continue
		case "Out", "Resume", "Log":
			continue
		}
		if g := legacyGroup(k); g != "" {
			groups[g][k] = v
		} else {
			top[k] = v
		}
	}
	for g, fields := range groups {
		top[g] = fields
	}
	b, err := json.Marshal(top)
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(b, &c)
}

// legacyGroup returns the group of Config (Data, Recipe or Engine) that
// holds the field a flat Config named name, "" for a field of Config
// itself.
func legacyGroup(name string) string {
	for group, t := range map[string]reflect.Type{
		"Data": reflect.TypeFor[DataConfig](), "Recipe": reflect.TypeFor[Recipe](), "Engine": reflect.TypeFor[Engine](),
	} {
		if _, ok := t.FieldByName(name); ok {
			return group
		}
	}
	return ""
}

// SettingsError refuses to resume a checkpoint made with other settings
// than the run's, or from another model.
type SettingsError struct {
	Checkpoint string // the checkpoint file
	// Model is the run's model file when its content is not the one the
	// checkpoint was made from, "" otherwise.
	Model string
	// Fields are the settings that differ, in Config's order; nil (with
	// Model "") when the checkpoint's settings could not be read.
	Fields []SettingDiff
}

// SettingDiff is one setting that differs between a checkpoint and a run.
type SettingDiff struct {
	Field           string // Config's field, a path for a nested one: "Recipe.Distill.T"
	Checkpoint, Run string // the values, as Go prints them
}

func (e *SettingsError) Error() string { return e.Describe(func(field string) string { return field }) }

// Describe gives the refusal with each setting named by name, as
// FieldError.Describe.
func (e *SettingsError) Describe(name func(field string) string) string {
	if e.Model == "" && len(e.Fields) == 0 {
		return fmt.Sprintf("%s was made with other settings or another model; resume with the same ones", e.Checkpoint)
	}
	var was, asks []string
	for _, d := range e.Fields {
		was = append(was, name(d.Field)+" "+d.Checkpoint)
		asks = append(asks, name(d.Field)+" "+d.Run)
	}
	switch {
	case len(e.Fields) == 0:
		return fmt.Sprintf("%s was made from another model than %s; resume with the model it was made from", e.Checkpoint, e.Model)
	case e.Model != "":
		return fmt.Sprintf("%s was made from another model than %s and with %s; this run asks %s",
			e.Checkpoint, e.Model, strings.Join(was, ", "), strings.Join(asks, ", "))
	}
	return fmt.Sprintf("%s was made with %s; this run asks %s", e.Checkpoint, strings.Join(was, ", "), strings.Join(asks, ", "))
}

// compareSettings returns a SettingsError naming what differs between the
// settings a checkpoint at path was made with and those of r, or nil when
// nothing does. A checkpoint made before Threads was kept as asked holds
// the count the default resolved to, which r's resolved count matches
// (such a checkpoint predates Groups, whose runs record their total); one
// made before Config was grouped is read into the groups (decodeSettings).
func (r *run) compareSettings(path, checkpoint string) error {
	was, err := decodeSettings(checkpoint)
	if err != nil {
		return &SettingsError{Checkpoint: path}
	}
	now, err := decodeSettings(r.config)
	if err != nil {
		return &SettingsError{Checkpoint: path}
	}
	e := &SettingsError{Checkpoint: path}
	if was.Model != now.Model {
		e.Model = r.cfg.Model
	}
	was.Model = now.Model
	if r.cfg.Engine.Group == nil && was.Engine.Threads == r.cfg.Engine.Threads {
		was.Engine.Threads = now.Engine.Threads
	}
	e.Fields = diffFields("", reflect.ValueOf(was), reflect.ValueOf(now), nil)
	if e.Model == "" && len(e.Fields) == 0 {
		return nil
	}
	return e
}

// diffFields appends to out the fields of the structs a and b that
// differ, walking into nested structs; fields left out of JSON are no
// settings. An empty slice or map equals nil.
func diffFields(prefix string, a, b reflect.Value, out []SettingDiff) []SettingDiff {
	for i := range a.NumField() {
		f := a.Type().Field(i)
		if !f.IsExported() || f.Tag.Get("json") == "-" {
			continue
		}
		x, y := a.Field(i), b.Field(i)
		name := prefix + f.Name
		if x.Kind() == reflect.Pointer && !x.IsNil() && !y.IsNil() {
			x, y = x.Elem(), y.Elem()
		}
		switch {
		case x.Kind() == reflect.Struct:
			out = diffFields(name+".", x, y, out)
		case (x.Kind() == reflect.Slice || x.Kind() == reflect.Map) && x.Len() == 0 && y.Len() == 0:
		case !reflect.DeepEqual(x.Interface(), y.Interface()):
			out = append(out, SettingDiff{Field: name, Checkpoint: show(x), Run: show(y)})
		}
	}
	return out
}

// show prints a setting: strings quoted, so that an empty one shows.
func show(v reflect.Value) string {
	if v.Kind() == reflect.String {
		return fmt.Sprintf("%q", v.Interface())
	}
	return fmt.Sprintf("%v", v.Interface())
}
