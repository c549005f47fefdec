// Package tweaks rewrites ResNet graphs into the variants of the "Bag of
// Tricks" paper (section 4): B moves a downsampling bottleneck's stride
// from its first 1×1 conv to the 3×3 conv; C replaces the 7×7 stem conv
// with three 3×3 convs; D puts a 2×2 average pool in front of each strided
// projection shortcut and gives the projection stride 1.
//
// The passes work on any ResNet in ONNX — built by package models, or
// exported from torchvision or timm, with BatchNorm as nodes or folded into
// the convs. They find their patterns by the graph's structure (package
// structure finds the stem and blocks; strides and kernel sizes say what
// to change), never by node names. Each pass is a row of a table: a check
// that says why there is nothing to change or why the graph is refused,
// and a rewrite that runs only when the check finds work. Each pass keeps
// every existing weight whose shape still fits (B and D change no weight
// at all), is idempotent, and reports what it changed block by block. A
// graph a pass does not understand is refused with an error, and the
// caller's model is never left half-rewritten: Apply works on a copy.
package tweaks

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/structure"
)

// Pass is one tweak.
type Pass string

// The passes, in the order Apply runs them.
const (
	B Pass = "B"
	C Pass = "C"
	D Pass = "D"
)

// ForVariant returns the passes that make a ResNet-A into the named
// variant; as in the paper, each variant includes the ones before it
// (D = B + C + D).
func ForVariant(variant string) ([]Pass, error) {
	switch strings.ToUpper(strings.TrimSpace(variant)) {
	case "A":
		return nil, nil
	case "B":
		return []Pass{B}, nil
	case "C":
		return []Pass{B, C}, nil
	case "D":
		return []Pass{B, C, D}, nil
	}
	return nil, fmt.Errorf("unknown variant %q: expected A, B, C or D", variant)
}

// known reports whether p is one of the passes.
func known(p Pass) bool {
	return slices.ContainsFunc(passTable, func(q pass) bool { return q.name == p })
}

// Build makes the named variant (A, B, C or D) of a model of the zoo:
// models.Build's ResNet-A, rewritten by the variant's passes (see
// ForVariant), with cfg.Seed also seeding the weights pass C creates. A
// is returned as built, with no reports. It is what build, ablate, the
// benchmarks and the demo start from.
func Build(cfg models.Config, variant string) (*graph.Model, []Report, error) {
	list, err := ForVariant(variant)
	if err != nil {
		return nil, nil, err
	}
	m, err := models.Build(cfg)
	if err != nil {
		return nil, nil, err
	}
	if len(list) == 0 {
		return m, nil, nil
	}
	return Apply(m, list, Options{Seed: cfg.Seed})
}

// ParsePasses reads a comma-separated list such as "b,d" (any case).
func ParsePasses(list string) ([]Pass, error) {
	var passes []Pass
	for _, name := range strings.Split(list, ",") {
		p := Pass(strings.ToUpper(strings.TrimSpace(name)))
		if !known(p) {
			return nil, fmt.Errorf("unknown pass %q in %q: expected a comma-separated list of b, c, d", name, list)
		}
		if !slices.Contains(passes, p) {
			passes = append(passes, p)
		}
	}
	return passes, nil
}

// Options tune the passes.
type Options struct {
	// Seed makes the weights pass C creates reproducible.
	Seed uint64
}

// Change is one rewrite a pass made.
type Change struct {
	Block string `json:"block"` // torchvision-style position: "stem", "layer2.0", …
	What  string `json:"what"`
}

// Report says what one pass did. A pass that found nothing to change says
// why in Note.
type Report struct {
	Pass    Pass     `json:"pass"`
	Changes []Change `json:"changes"`
	Note    string   `json:"note,omitempty"`
}

// MetaTweaks is the metadata key listing the passes a model has been through.
const MetaTweaks = "bot-onnx.tweaks"

// Apply runs the passes on a copy of m, in the fixed order B, C, D
// whatever order they are listed in, and returns the rewritten model and
// one report per pass. On error m is untouched and no model is returned.
func Apply(m *graph.Model, passes []Pass, opts Options) (*graph.Model, []Report, error) {
	out := m.Clone()
	g := out.GetGraph()
	if err := graph.Validate(out); err != nil {
		return nil, nil, err
	}
	if err := graph.TopoSort(g); err != nil {
		return nil, nil, err
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x74_77_65_61_6b_73))
	var reports []Report
	applied := appliedPasses(out)
	for _, p := range passTable {
		if !slices.Contains(passes, p.name) {
			continue
		}
		r, err := structure.Find(g)
		if err != nil {
			return nil, nil, err
		}
		rep := Report{Pass: p.name}
		if rep.Note, err = p.check(r); err != nil {
			return nil, nil, fmt.Errorf("pass %s: %w", p.name, err)
		}
		if rep.Note == "" {
			if rep.Changes, err = p.rewrite(r, out, rng); err != nil {
				return nil, nil, fmt.Errorf("pass %s: %w", p.name, err)
			}
		}
		if err := graph.Clean(g); err != nil {
			return nil, nil, fmt.Errorf("pass %s: %w", p.name, err)
		}
		reports = append(reports, rep)
		if len(rep.Changes) > 0 && !slices.Contains(applied, p.name) {
			applied = append(applied, p.name)
		}
	}
	if err := graph.Validate(out); err != nil {
		return nil, nil, fmt.Errorf("the rewritten model is invalid (a bug in bot-onnx, please report it): %w", err)
	}
	final, err := structure.Find(g)
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(applied)
	names := make([]string, len(applied))
	for i, p := range applied {
		names[i] = string(p)
	}
	out.SetMetadata(MetaTweaks, strings.Join(names, ","))
	out.SetMetadata(models.MetaVariant, variantName(featuresOf(final), slices.Concat(passes, applied)))
	return out, reports, nil
}

// appliedPasses reads the passes a model's metadata says it has had.
func appliedPasses(m *graph.Model) []Pass {
	list, _ := m.Metadata(MetaTweaks)
	var passes []Pass
	for _, name := range strings.Split(list, ",") {
		if known(Pass(name)) {
			passes = append(passes, Pass(name))
		}
	}
	return passes
}

// variantName names a structure with the paper's letters, by what it has:
// D when it has B's strides, C's stem and D's pooled shortcuts, C for B +
// C, B for B alone, A for none; any other combination is A plus what it
// has, e.g. "A+D". A tweak that does not exist for the architecture (B for
// basic blocks, C for the CIFAR stem) counts as had when it was asked for
// or a later letter is had: ResNet-20 with pooled shortcuts is D, and
// ResNet-20 rewritten by the no-op B is B, not C.
func variantName(f features, asked []Pass) string {
	f.b = f.b || f.noB && (slices.Contains(asked, B) || f.c || f.noC && slices.Contains(asked, C) || f.d)
	f.c = f.c || f.noC && (slices.Contains(asked, C) || f.d)
	switch {
	case f.b && f.c && f.d:
		return "D"
	case f.b && f.c:
		return "C"
	case f.b && !f.d:
		return "B"
	case !f.b && !f.c && !f.d:
		return "A"
	}
	s := "A+"
	for _, has := range []struct {
		ok   bool
		name string
	}{{f.b, "B"}, {f.c, "C"}, {f.d, "D"}} {
		if has.ok {
			s += has.name
		}
	}
	return s
}
