package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// rendering is what a page looked like in Chromium after it loaded.
type rendering struct {
	Images int      `json:"images"`
	Broken []string `json:"broken"` // images that did not decode
	Tables int      `json:"tables"`
	Empty  []string `json:"empty"` // tables without a row, or rows with an empty cell
	// Screenshot statistics: distinct colours and the share of pixels
	// that are not the background.
	Colours int
	Inked   float64
}

// probeScript runs when the page has loaded and writes what it finds into
// a <pre> that --dump-dom prints.
const probeScript = `<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const tables = [...document.querySelectorAll("table")];
  const name = t => (t.caption ? t.caption.textContent : "table without caption");
  const result = {
    images: images.length,
    broken: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute("src")),
    tables: tables.length,
    empty: tables.filter(t => {
      const rows = [...t.querySelectorAll("tbody tr")];
      return rows.length === 0 || rows.some(r => [...r.cells].some(c => c.textContent.trim() === ""));
    }).map(name),
  };
  const pre = document.createElement("pre");
  pre.id = "chromium-probe";
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
});
</script>`

var probeResult = regexp.MustCompile(`(?s)<pre id="chromium-probe">(.*?)</pre>`)

// renderInChromium opens page in headless Chromium, runs the probe on a
// copy beside it (so its relative image paths still resolve) and takes a
// screenshot of the original.
func renderInChromium(t *testing.T, page string) rendering {
	t.Helper()
	browser, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Missing(t, "chromium not found (Debian package chromium, installed by task deps)")
	}
	src, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(filepath.Dir(page), ".chromium-probe-"+filepath.Base(page))
	withProbe := strings.Replace(string(src), "</body>", probeScript+"</body>", 1)
	if err := os.WriteFile(probe, []byte(withProbe), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(probe)

	profile := t.TempDir()
	chromium := func(args ...string) []byte {
		t.Helper()
		args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
			"--user-data-dir=" + profile, "--allow-file-access-from-files", "--virtual-time-budget=10000"}, args...)
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(browser, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.Bytes()
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return "file://" + a
	}

	m := probeResult.FindSubmatch(chromium("--dump-dom", abs(probe)))
	if m == nil {
		t.Fatal("the probe script did not run: chromium printed no result")
	}
	var r rendering
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &r); err != nil {
		t.Fatal(err)
	}

	shot := filepath.Join(profile, "page.png")
	chromium("--screenshot="+shot, "--window-size=1200,2400", abs(page))
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	r.Colours, r.Inked = inkStatistics(img)
	return r
}

// inkStatistics counts an image's distinct colours and the share of its
// pixels that differ from the top-left one, the page background.
func inkStatistics(img image.Image) (colours int, inked float64) {
	b := img.Bounds()
	background := color.RGBAModel.Convert(img.At(b.Min.X, b.Min.Y))
	seen := map[color.Color]bool{}
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y))
			seen[c] = true
			if c != background {
				n++
			}
		}
	}
	return len(seen), float64(n) / float64(b.Dx()*b.Dy())
}

// checkRendering fails the test when the page shows a broken image, an
// empty table, or a blank screenshot.
func checkRendering(t *testing.T, r rendering, minImages, minTables int) {
	t.Helper()
	if len(r.Broken) > 0 {
		t.Errorf("broken images: %v", r.Broken)
	}
	if len(r.Empty) > 0 {
		t.Errorf("tables with no rows or an empty cell: %v", r.Empty)
	}
	if r.Images < minImages || r.Tables < minTables {
		t.Errorf("%d images and %d tables rendered, want at least %d and %d", r.Images, r.Tables, minImages, minTables)
	}
	// Text alone paints a few hundred anti-aliased greys; the curves add
	// their series' colours.
	if r.Colours < 64 || r.Inked < 0.02 {
		t.Errorf("the screenshot looks blank: %d colours, %.1f%% of pixels painted", r.Colours, 100*r.Inked)
	}
}

// TestChromiumCheck proves the check on pages whose faults are known: a
// good document written by Write passes, and a page with a missing image
// and an empty table fails on both.
func TestChromiumCheck(t *testing.T) {
	dir := t.TempDir()
	curve := image.NewRGBA(image.Rect(0, 0, 300, 200))
	for x := range 300 {
		for y := range 200 {
			curve.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, curve); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a.png"), buf.Bytes(), 0o644)
	good := sample()
	if err := good.Write(dir, "good"); err != nil {
		t.Fatal(err)
	}
	r := renderInChromium(t, filepath.Join(dir, "good.html"))
	checkRendering(t, r, 1, 1)

	broken := strings.Replace(good.HTML(), `src="a.png"`, `src="missing.png"`, 1)
	broken = strings.Replace(broken, "<tr><td>D</td><td>99.3%</td></tr>", "<tr><td>D</td><td> </td></tr>", 1)
	os.WriteFile(filepath.Join(dir, "broken.html"), []byte(broken), 0o644)
	r = renderInChromium(t, filepath.Join(dir, "broken.html"))
	want := rendering{Images: 1, Broken: []string{"missing.png"}, Tables: 1, Empty: []string{"Table 5"}}
	if fmt.Sprint(r.Images, r.Broken, r.Tables, r.Empty) != fmt.Sprint(want.Images, want.Broken, want.Tables, want.Empty) {
		t.Errorf("broken page: Chromium found %+v, want %+v", r, want)
	}
}

// TestDemoReportInChromium checks the report of a real demo, named by
// BOT_ONNX_DEMO_REPORT (task demo-check runs `bot-onnx demo --quick`
// first): every image decodes, every table has full rows, and the page
// paints.
func TestDemoReportInChromium(t *testing.T) {
	page := os.Getenv("BOT_ONNX_DEMO_REPORT")
	if page == "" {
		t.Skip("set BOT_ONNX_DEMO_REPORT to a demo's report.html (task demo-check does)")
	}
	r := renderInChromium(t, page)
	// Three curves, the segmentation curves, and two prediction pictures
	// per fine-tuned backbone and task; Tables 5, 6, 8 and 9 and the
	// inference table.
	checkRendering(t, r, 12, 5)
	t.Logf("%s: %d images, %d tables, screenshot with %d colours, %.1f%% painted", page, r.Images, r.Tables, r.Colours, 100*r.Inked)
}
