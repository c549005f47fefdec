package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sample() Document {
	return Document{Title: "Demo <run>", Blocks: []Block{
		Heading{2, "Models"},
		Paragraph("Built with `bot-onnx build` & tweaked."),
		Table{Caption: "Table 5", Header: []string{"model", "top-1"}, Rows: [][]string{{"A|B", "99.1%"}, {"D", "99.3%"}}},
		List{"one `x`", "two"},
		Code("bot-onnx demo --quick"),
		Gallery{{Path: "a.png", Alt: "curve", Caption: "loss"}},
	}}
}

func TestMarkdown(t *testing.T) {
	want := "# Demo <run>\n\n## Models\n\nBuilt with `bot-onnx build` & tweaked.\n\n" +
		"**Table 5**\n\n| model | top-1 |\n|---|---|\n| A\\|B | 99.1% |\n| D | 99.3% |\n\n" +
		"- one `x`\n- two\n\n```\nbot-onnx demo --quick\n```\n\n![curve](a.png)\n\n*loss*\n"
	if got := sample().Markdown(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestHTML(t *testing.T) {
	got := sample().HTML()
	for _, want := range []string{
		"<title>Demo &lt;run&gt;</title>",
		"<p>Built with <code>bot-onnx build</code> &amp; tweaked.</p>",
		"<caption>Table 5</caption>",
		"<thead><tr><th>model</th><th>top-1</th></tr></thead>",
		"<tr><td>A|B</td><td>99.1%</td></tr>",
		"<li>one <code>x</code></li>",
		"<pre><code>bot-onnx demo --quick</code></pre>",
		`<figure><img src="a.png" alt="curve"><figcaption>loss</figcaption></figure>`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("HTML lacks %q:\n%s", want, got)
		}
	}
}

func TestInlineUnpairedBackquote(t *testing.T) {
	if got, want := inline("a `b` c `d"), "a <code>b</code> c `d"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.png"), []byte("png"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := sample().Write(dir, "report"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"report.md", "report.html"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

// TestWriteRefusesHoles checks that a report which would show an empty
// table or a missing picture is refused, and nothing is written.
func TestWriteRefusesHoles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		block Block
		want  string
	}{
		{"empty table", Table{Caption: "t", Header: []string{"a"}}, "expected a header and at least one row"},
		{"ragged row", Table{Caption: "t", Header: []string{"a", "b"}, Rows: [][]string{{"1"}}}, "expected 2 cells, found 1"},
		{"missing image", Image{Path: "nope.png"}, "image nope.png not found"},
		{"absolute image", Image{Path: "/tmp/x.png"}, "expected a path relative"},
		{"empty gallery", Gallery{}, "a gallery without images"},
		{"empty paragraph", Paragraph(" "), "an empty paragraph"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			err := Document{Title: "r", Blocks: []Block{tc.block}}.Write(dir, "report")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("files left behind: %v", entries)
			}
		})
	}
}
