package tweaks

import (
	"cmp"
	"fmt"
	"io"
	"strings"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/report"
	"github.com/bot-onnx/bot-onnx/models"
)

// FileResult is what RewriteFile did to a model file, with the counts
// that show the passes' cost: what `bot-onnx tweak --json` prints.
type FileResult struct {
	Input  string `json:"input"`
	Output string `json:"output"`
	// Variant is the rewritten model's variant (models.MetaVariant).
	Variant string   `json:"variant"`
	Reports []Report `json:"passes"`
	// Before and After count the input's and the output's parameters and
	// MACs per image.
	Before graph.Counts `json:"before"`
	After  graph.Counts `json:"after"`
	// MACsError says why the MACs are not counted (0 in Before and After),
	// as for a model whose input height and width are dynamic: the passes
	// need no sizes, so such a model is rewritten all the same.
	MACsError string `json:"macs_error,omitempty"`
}

// RewriteFile runs the passes on the model in the file in, as Apply does,
// and saves the rewritten model to out; on error out is not written. An
// out that is in itself, or not a regular file, is refused first
// (graph.CheckOutput).
func RewriteFile(in, out string, passes []Pass, opts Options) (*FileResult, error) {
	if err := graph.CheckOutput(out, in); err != nil {
		return nil, err
	}
	m, err := graph.Load(in)
	if err != nil {
		return nil, err
	}
	rewritten, reports, err := Apply(m, passes, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in, err)
	}
	res := &FileResult{Input: in, Output: out, Reports: reports}
	res.Variant, _ = rewritten.Metadata(models.MetaVariant)
	var before, after error
	res.Before, before = graph.Count(m)
	res.After, after = graph.Count(rewritten)
	if err := cmp.Or(before, after); err != nil {
		res.Before.MACs, res.After.MACs, res.MACsError = 0, 0, err.Error()
	}
	return res, rewritten.Save(out)
}

// WriteText writes r for a person: each pass's report (WriteReports), then
// the file written with its variant and the counts before and after.
func (r *FileResult) WriteText(w io.Writer) error {
	if err := WriteReports(w, r.Reports); err != nil {
		return err
	}
	macs := fmt.Sprintf("%.3f → %.3f G MACs per image", float64(r.Before.MACs)/1e9, float64(r.After.MACs)/1e9)
	if r.MACsError != "" {
		macs = "MACs unknown (" + r.MACsError + ")"
	}
	_, err := fmt.Fprintf(w, "wrote %s: variant %s, %s → %s parameters, %s\n",
		r.Output, r.Variant, report.Thousands(r.Before.Params), report.Thousands(r.After.Params), macs)
	return err
}

// BuiltFile is what BuildFile wrote: what `bot-onnx build --json`
// prints; the passes' reports are for WriteText only.
type BuiltFile struct {
	Path    string   `json:"path"`
	Model   string   `json:"model"`
	Variant string   `json:"variant"`
	Params  int64    `json:"params"`
	MACs    int64    `json:"macs"`
	Reports []Report `json:"-"`
}

// BuildFile builds the model of cfg at variant, as Build does, and saves
// it to out with producerVersion as the producer's version; on error out
// is not written.
func BuildFile(cfg models.Config, variant, out, producerVersion string) (*BuiltFile, error) {
	m, reports, err := Build(cfg, variant)
	if err != nil {
		return nil, err
	}
	m.ProducerVersion = producerVersion
	counts, err := graph.Count(m)
	if err != nil {
		return nil, err
	}
	res := &BuiltFile{Path: out, Params: counts.Params, MACs: counts.MACs, Reports: reports}
	res.Model, _ = m.Metadata(models.MetaModel)
	res.Variant, _ = m.Metadata(models.MetaVariant)
	return res, m.Save(out)
}

// WriteText writes b for a person: each pass's report, then the file
// written with its parameters and MACs.
func (b *BuiltFile) WriteText(w io.Writer) error {
	if err := WriteReports(w, b.Reports); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "wrote %s: %s-%s, %s parameters, %.3f G MACs per image\n",
		b.Path, b.Model, b.Variant, report.Thousands(b.Params), float64(b.MACs)/1e9)
	return err
}

// WriteReports writes each pass's changes for a person, block by block, or
// why it changed nothing: what build and tweak print of Apply's reports.
func WriteReports(w io.Writer, reports []Report) error {
	var b strings.Builder
	for _, r := range reports {
		if len(r.Changes) == 0 {
			fmt.Fprintf(&b, "pass %s: %s\n", r.Pass, r.Note)
			continue
		}
		fmt.Fprintf(&b, "pass %s: %d %s\n", r.Pass, len(r.Changes), report.Plural(len(r.Changes), "change", "changes"))
		for _, ch := range r.Changes {
			fmt.Fprintf(&b, "  %-9s %s\n", ch.Block, ch.What)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
