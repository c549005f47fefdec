package cmdline

import (
	"errors"
	"strings"
)

// describer is an error of a library package that names fields of its
// configuration in Go's words (train.FieldError, train.SettingsError,
// train.MemoryError, train.BusyError) and can name them in others'.
type describer interface {
	error
	Describe(name func(field string) string) string
}

// InFlags returns err with the configuration fields it names replaced by
// the command's flags, which flags maps ("Recipe.WeightDecay" → "--wd"); a field
// without a flag keeps its name, and the message around the refusal stays.
func InFlags(err error, flags map[string]string) error {
	var d describer
	if !errors.As(err, &d) {
		return err
	}
	name := func(field string) string {
		if flag, ok := flags[field]; ok {
			return flag
		}
		return field
	}
	return errors.New(strings.Replace(err.Error(), d.Error(), d.Describe(name), 1))
}
