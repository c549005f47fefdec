package train

import (
	"fmt"
	"regexp"
	"strings"
)

// FieldError refuses the value of one field of a configuration (Config, or
// a configuration that holds one, as ablation's), as os.PathError reports
// a path: callers find it with errors.As and may name the field in their
// own words, as the command line names its flag.
type FieldError struct {
	// Field is the field's name as Go writes it, a path for a nested one:
	// "Init", "Recipe.WeightDecay", "Recipe.Distill.T".
	Field string
	// Value is the value refused; nil when the field's presence, not its
	// value, is what is refused.
	Value any
	// Want says what was expected. It may name other fields, listed in
	// With, by their Go names.
	Want string
	// With lists the other fields Want names, which decide what Field may
	// hold (Init for Recipe.ZeroGamma, Recipe.Batch for Engine.MicroBatch).
	With []string
	// Err is the error behind the refusal, if another call gave one.
	Err error
}

// Error gives the refusal in Go's names: `Recipe.WeightDecay -0.1:
// expected 0 or more`.
func (e *FieldError) Error() string { return e.Describe(func(field string) string { return field }) }

// Unwrap returns the error behind the refusal.
func (e *FieldError) Unwrap() error { return e.Err }

// Describe gives the refusal with every field, Field and those of With,
// named by name: a command line passes its flag of each field.
func (e *FieldError) Describe(name func(field string) string) string {
	var b strings.Builder
	b.WriteString(name(e.Field))
	switch v := e.Value.(type) {
	case nil:
	case string:
		fmt.Fprintf(&b, " %q", v)
	default:
		fmt.Fprintf(&b, " %v", v)
	}
	if e.Want != "" {
		want := e.Want
		for _, f := range e.With {
			want = regexp.MustCompile(`\b`+regexp.QuoteMeta(f)+`\b`).ReplaceAllLiteralString(want, name(f))
		}
		b.WriteString(": expected " + want)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// refuse returns a FieldError for field's value.
func refuse(field string, value any, want string, with ...string) *FieldError {
	return &FieldError{Field: field, Value: value, Want: want, With: with}
}
