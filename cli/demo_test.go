package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/mnistdemo"
)

// TestDemoCommandsParse checks that the report's single commands name
// flags their commands have, so a reader can run them.
func TestDemoCommandsParse(t *testing.T) {
	app := NewApp(&bytes.Buffer{}, &bytes.Buffer{})
	for _, line := range strings.Split(mnistdemo.Commands(&mnistdemo.Result{Budget: mnistdemo.Quick}), "\n") {
		fields := strings.Fields(line)
		cmd := app.Command(fields[1])
		if cmd == nil {
			t.Errorf("%q: no command %s", line, fields[1])
			continue
		}
		flags := map[string]bool{}
		for _, f := range cmd.Flags {
			for _, n := range f.Names() {
				flags[n] = true
			}
		}
		for _, f := range fields[2:] {
			if name, ok := strings.CutPrefix(f, "--"); ok && !flags[name] {
				t.Errorf("%q: %s has no flag --%s", line, fields[1], name)
			}
		}
	}
}
