package cmdline

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"
)

// ApplyRecipe reads a YAML recipe (keys are the command's flag names, as
// `lr-mode: cosine` or `lr-steps: [30, 60, 90]`) and sets every flag the
// command line did not set, so that flags override the file. A key that
// names no flag, or a value of the wrong kind, is an error naming it.
func ApplyRecipe(c *cli.Context, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var recipe map[string]any
	if err := yaml.Unmarshal(b, &recipe); err != nil {
		return fmt.Errorf("recipe %s: %v", path, firstLineOf(err.Error()))
	}
	known := map[string]bool{}
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			known[n] = true
		}
	}
	keys := make([]string, 0, len(recipe))
	for k := range recipe {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !known[k] || k == "config" {
			names := make([]string, 0, len(known))
			for n := range known {
				if len(n) > 1 && n != "config" {
					names = append(names, n)
				}
			}
			slices.Sort(names)
			return fmt.Errorf("recipe %s: unknown key %q (expected one of %s)", path, k, strings.Join(names, ", "))
		}
		if c.IsSet(k) {
			continue
		}
		var value string
		switch v := recipe[k].(type) {
		case []any:
			parts := make([]string, len(v))
			for i, x := range v {
				parts[i] = fmt.Sprint(x)
			}
			value = strings.Join(parts, ",")
		case map[string]any, nil:
			return fmt.Errorf("recipe %s: key %q: expected a value or a list, found %v", path, k, v)
		default:
			value = fmt.Sprint(v)
		}
		if err := c.Set(k, value); err != nil {
			return fmt.Errorf("recipe %s: key %q: expected %s, found %q", path, k, flagKind(c.Command.Flags, k), value)
		}
	}
	return nil
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// flagKind says what value the flag named name takes, for messages.
func flagKind(flags []cli.Flag, name string) string {
	for _, f := range flags {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		switch f.(type) {
		case *cli.Float64Flag:
			return "a number"
		case *cli.IntFlag, *cli.Int64Flag:
			return "an integer"
		case *cli.Uint64Flag:
			return "an integer of 0 or more"
		case *cli.BoolFlag:
			return "true or false"
		}
	}
	return "a value"
}
