package cmdline

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

type inner struct {
	First  int // shares its address with the struct that holds it
	Second string
}

type config struct {
	Name  string
	Inner inner
	Rate  float64
}

func TestFieldFlags(t *testing.T) {
	var cfg config
	flags := []cli.Flag{
		&cli.StringFlag{Name: "name", Destination: &cfg.Name},
		&cli.IntFlag{Name: "first", Destination: &cfg.Inner.First},
		&cli.StringFlag{Name: "second", Aliases: []string{"s"}, Destination: &cfg.Inner.Second},
		&cli.Float64Flag{Name: "rate"}, // no Destination: not a field's flag
		&cli.BoolFlag{Name: "json"},
	}
	got := FieldFlags(&cfg, flags, map[string]string{"Rate": "--rate-mode", "Name": "--label"})
	want := map[string]string{"Name": "--label", "Inner.First": "--first", "Inner.Second": "--second", "Rate": "--rate-mode"}
	if !maps.Equal(got, want) {
		t.Errorf("FieldFlags = %v, want %v", got, want)
	}
}

// fieldError names a field as train.FieldError does.
type fieldError struct{ field string }

func (e *fieldError) Error() string { return e.Describe(func(f string) string { return f }) }
func (e *fieldError) Describe(name func(string) string) string {
	return name(e.field) + " 0: expected at least 1"
}

func TestInFlags(t *testing.T) {
	flags := map[string]string{"Recipe.Epochs": "--epochs"}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("run a: %w", &fieldError{"Recipe.Epochs"}), "run a: --epochs 0: expected at least 1"},
		{&fieldError{"Other"}, "Other 0: expected at least 1"},
		{errors.New("plain"), "plain"},
	} {
		if got := InFlags(tc.err, flags).Error(); got != tc.want {
			t.Errorf("InFlags(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestValues(t *testing.T) {
	for _, tc := range []struct {
		name, got, want string
	}{
		{"dims", fmt.Sprint(must(Dims("input", "3X32x32", 3, "3x32x32"))), "[3 32 32]"},
		{"dims count", errText(Dims("input", "3x32", 3, "3x32x32")), `--input "3x32": expected 3 sizes like 3x32x32, found 2`},
		{"dims zero", errText(Dims("input", "0x32x32", 3, "3x32x32")), `--input "0x32x32": expected positive integers like 3x32x32, found "0"`},
		{"ints", fmt.Sprint(must(Ints("lr-steps", " 30, 60 "))), "[30 60]"},
		{"ints empty", fmt.Sprint(must(Ints("lr-steps", ""))), "[]"},
		{"ints negative", errText(Ints("lr-steps", "30,-1")), `--lr-steps "30,-1": expected positive integers like 30,60,90, found "-1"`},
		{"floats", fmt.Sprint(must(Floats("mean", "0.5, 0.25", 0))), "[0.5 0.25]"},
		{"floats NaN", errText(Floats("mean", "NaN", 0)), `--mean "NaN": expected comma-separated numbers, found "NaN"`},
		{"floats count", errText(Floats("crop-area", "0.1", 2)), `--crop-area "0.1": expected 2 numbers, found 1`},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, tc.got, tc.want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func errText[T any](_ T, err error) string {
	if err == nil {
		return "<no error>"
	}
	return err.Error()
}

func TestOneDefault(t *testing.T) {
	threads := &cli.IntFlag{Name: "threads", Usage: "replicas (default: one per core)"}
	text := &cli.StringFlag{Name: "out", Usage: "folder (default: the cache)"}
	OneDefault([]*cli.Command{{Subcommands: []*cli.Command{{Flags: []cli.Flag{threads, text}}}}})
	if threads.Usage != "replicas" || threads.DefaultText != "one per core" {
		t.Errorf("int flag: usage %q, default %q", threads.Usage, threads.DefaultText)
	}
	// A string flag shows no default of its own, so its usage keeps it.
	if !strings.HasSuffix(text.Usage, "(default: the cache)") {
		t.Errorf("string flag: usage %q", text.Usage)
	}
}
