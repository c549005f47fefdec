// Package report writes one document as two files: Markdown, to read in a
// terminal or on a code host, and a standalone HTML page with the same
// content, to open in a browser. Both refer to images by relative path, so
// the report folder can be moved or archived whole.
package report

import (
	"errors"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"

	"github.com/bot-onnx/bot-onnx/graph"
)

// Document is a report: a title and its blocks in order.
type Document struct {
	Title  string
	Blocks []Block
}

// Block is one part of a document, rendered either way.
type Block interface {
	markdown(*strings.Builder)
	html(*strings.Builder)
	check() error
}

// Heading is a section title; Level 2 is a section, 3 a subsection.
type Heading struct {
	Level int
	Text  string
}

// Paragraph is running text. Spans between backquotes are code.
type Paragraph string

// List is a bulleted list of running text, each item as a Paragraph.
type List []string

// Code is a block of literal text, such as commands.
type Code string

// Table is a captioned table; every row has one cell per header.
type Table struct {
	Caption string
	Header  []string
	Rows    [][]string
}

// Image is a picture beside the report, by path relative to it.
type Image struct {
	Path, Alt, Caption string
}

// Gallery is a row of images shown side by side in HTML (one after the
// other in Markdown).
type Gallery []Image

// Write saves the document as base.md and base.html in dir, each written
// whole or not at all. An empty table or an image that is not there is an
// error: the report would show a hole.
func (d Document) Write(dir, base string) error {
	for _, b := range d.Blocks {
		if err := b.check(); err != nil {
			return fmt.Errorf("report %q: %w", d.Title, err)
		}
		for _, img := range images(b) {
			if filepath.IsAbs(img.Path) {
				return fmt.Errorf("report %q: image %s: expected a path relative to the report", d.Title, img.Path)
			}
			if !fileExists(filepath.Join(dir, img.Path)) {
				return fmt.Errorf("report %q: image %s not found in %s", d.Title, img.Path, dir)
			}
		}
	}
	if err := graph.WriteFileAtomic(filepath.Join(dir, base+".md"), []byte(d.Markdown())); err != nil {
		return err
	}
	return graph.WriteFileAtomic(filepath.Join(dir, base+".html"), []byte(d.HTML()))
}

// Markdown renders the document as GitHub-flavoured Markdown.
func (d Document) Markdown() string {
	var s strings.Builder
	fmt.Fprintf(&s, "# %s\n", d.Title)
	for _, b := range d.Blocks {
		s.WriteString("\n")
		b.markdown(&s)
	}
	return s.String()
}

// HTML renders the document as a page that needs nothing but its images.
func (d Document) HTML() string {
	var s strings.Builder
	fmt.Fprintf(&s, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n<h1>%s</h1>\n",
		html.EscapeString(d.Title), style, html.EscapeString(d.Title))
	for _, b := range d.Blocks {
		b.html(&s)
	}
	s.WriteString("</body>\n</html>\n")
	return s.String()
}

const style = `
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0}
caption{caption-side:top;text-align:left;font-weight:600;padding-bottom:.4em}
th,td{border:1px solid #ccc;padding:.3em .7em;text-align:left}
th{background:#f3f3f3}
tbody tr:nth-child(even){background:#fafafa}
code,pre{font-family:ui-monospace,monospace;background:#f5f5f5}
pre{padding:.8em;overflow-x:auto}
figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}
figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.9em;color:#555}
`

func (h Heading) check() error { return nonEmpty("heading", h.Text) }

func (h Heading) markdown(s *strings.Builder) {
	fmt.Fprintf(s, "%s %s\n", strings.Repeat("#", h.level()), h.Text)
}

func (h Heading) html(s *strings.Builder) {
	fmt.Fprintf(s, "<h%d>%s</h%d>\n", h.level(), html.EscapeString(h.Text), h.level())
}

// level keeps headings below the document's title.
func (h Heading) level() int { return min(max(h.Level, 2), 6) }

func (p Paragraph) check() error { return nonEmpty("paragraph", string(p)) }

func (p Paragraph) markdown(s *strings.Builder) { fmt.Fprintf(s, "%s\n", p) }

func (p Paragraph) html(s *strings.Builder) { fmt.Fprintf(s, "<p>%s</p>\n", inline(string(p))) }

func (l List) check() error {
	if len(l) == 0 {
		return errors.New("a list without items")
	}
	for _, item := range l {
		if err := nonEmpty("list item", item); err != nil {
			return err
		}
	}
	return nil
}

func (l List) markdown(s *strings.Builder) {
	for _, item := range l {
		fmt.Fprintf(s, "- %s\n", item)
	}
}

func (l List) html(s *strings.Builder) {
	s.WriteString("<ul>\n")
	for _, item := range l {
		fmt.Fprintf(s, "<li>%s</li>\n", inline(item))
	}
	s.WriteString("</ul>\n")
}

func (c Code) check() error { return nonEmpty("code block", string(c)) }

func (c Code) markdown(s *strings.Builder) {
	fmt.Fprintf(s, "```\n%s\n```\n", strings.TrimRight(string(c), "\n"))
}

func (c Code) html(s *strings.Builder) {
	fmt.Fprintf(s, "<pre><code>%s</code></pre>\n", html.EscapeString(strings.TrimRight(string(c), "\n")))
}

func (t Table) check() error {
	if len(t.Header) == 0 || len(t.Rows) == 0 {
		return fmt.Errorf("table %q: expected a header and at least one row, found %d columns and %d rows", t.Caption, len(t.Header), len(t.Rows))
	}
	for i, r := range t.Rows {
		if len(r) != len(t.Header) {
			return fmt.Errorf("table %q row %d: expected %d cells, found %d", t.Caption, i+1, len(t.Header), len(r))
		}
	}
	return nil
}

func (t Table) markdown(s *strings.Builder) {
	if t.Caption != "" {
		fmt.Fprintf(s, "**%s**\n\n", t.Caption)
	}
	row := func(cells []string) {
		escaped := make([]string, len(cells))
		for i, c := range cells {
			escaped[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		fmt.Fprintf(s, "| %s |\n", strings.Join(escaped, " | "))
	}
	row(t.Header)
	s.WriteString("|" + strings.Repeat("---|", len(t.Header)) + "\n")
	for _, r := range t.Rows {
		row(r)
	}
}

func (t Table) html(s *strings.Builder) {
	s.WriteString("<table>\n")
	if t.Caption != "" {
		fmt.Fprintf(s, "<caption>%s</caption>\n", inline(t.Caption))
	}
	s.WriteString("<thead><tr>")
	for _, h := range t.Header {
		fmt.Fprintf(s, "<th>%s</th>", inline(h))
	}
	s.WriteString("</tr></thead>\n<tbody>\n")
	for _, r := range t.Rows {
		s.WriteString("<tr>")
		for _, c := range r {
			fmt.Fprintf(s, "<td>%s</td>", inline(c))
		}
		s.WriteString("</tr>\n")
	}
	s.WriteString("</tbody>\n</table>\n")
}

func (img Image) check() error { return nonEmpty("image path", img.Path) }

func (img Image) markdown(s *strings.Builder) {
	fmt.Fprintf(s, "![%s](%s)\n", img.Alt, filepath.ToSlash(img.Path))
	if img.Caption != "" {
		fmt.Fprintf(s, "\n*%s*\n", img.Caption)
	}
}

func (img Image) html(s *strings.Builder) {
	fmt.Fprintf(s, "<figure><img src=\"%s\" alt=\"%s\">", html.EscapeString(filepath.ToSlash(img.Path)), html.EscapeString(img.Alt))
	if img.Caption != "" {
		fmt.Fprintf(s, "<figcaption>%s</figcaption>", inline(img.Caption))
	}
	s.WriteString("</figure>\n")
}

func (g Gallery) check() error {
	if len(g) == 0 {
		return errors.New("a gallery without images")
	}
	for _, img := range g {
		if err := img.check(); err != nil {
			return err
		}
	}
	return nil
}

func (g Gallery) markdown(s *strings.Builder) {
	for i, img := range g {
		if i > 0 {
			s.WriteString("\n")
		}
		img.markdown(s)
	}
}

func (g Gallery) html(s *strings.Builder) {
	s.WriteString("<div class=\"gallery\">\n")
	for _, img := range g {
		img.html(s)
	}
	s.WriteString("</div>\n")
}

// images returns the pictures a block shows.
func images(b Block) []Image {
	switch b := b.(type) {
	case Image:
		return []Image{b}
	case Gallery:
		return b
	}
	return nil
}

// inline escapes text for HTML and turns `spans` into code.
func inline(text string) string {
	parts := strings.Split(text, "`")
	var s strings.Builder
	for i, p := range parts {
		switch {
		case i%2 == 0:
			s.WriteString(html.EscapeString(p))
		case i == len(parts)-1: // an unpaired backquote stays as it is
			s.WriteString("`" + html.EscapeString(p))
		default:
			s.WriteString("<code>" + html.EscapeString(p) + "</code>")
		}
	}
	return s.String()
}

func nonEmpty(what, text string) error {
	if strings.TrimSpace(text) == "" {
		return fmt.Errorf("an empty %s", what)
	}
	return nil
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
