package ort

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// touch creates an empty file at path, with its folders.
func touch(t *testing.T, path string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFindLibraryOrder(t *testing.T) {
	root := t.TempDir()
	explicit := touch(t, filepath.Join(root, "flag", "libonnxruntime.so"))
	fromEnv := touch(t, filepath.Join(root, "env", "libonnxruntime.so"))
	cache := filepath.Join(root, "cache")
	cached := touch(t, filepath.Join(cache, "libonnxruntime.so"))
	ldDir := filepath.Join(root, "ld")
	ldLib := touch(t, filepath.Join(ldDir, "libonnxruntime.so.1"))
	sysDir := filepath.Join(root, "sys")
	sysLib := touch(t, filepath.Join(sysDir, "libonnxruntime.so"))
	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		explicit string
		env      map[string]string
		cacheDir string
		sysDirs  []string
		want     string
		source   LibrarySource
	}{
		{"explicit wins over everything", explicit, map[string]string{LibraryEnv: fromEnv, "LD_LIBRARY_PATH": ldDir}, cache, []string{sysDir}, explicit, FromFlag},
		{"env wins over cache", "", map[string]string{LibraryEnv: fromEnv, "LD_LIBRARY_PATH": ldDir}, cache, []string{sysDir}, fromEnv, FromEnv},
		{"cache wins over system", "", map[string]string{"LD_LIBRARY_PATH": ldDir}, cache, []string{sysDir}, cached, FromUserCache},
		{"LD_LIBRARY_PATH before system folders, .so.1 accepted", "", map[string]string{"LD_LIBRARY_PATH": empty + ":" + ldDir}, empty, []string{sysDir}, ldLib, FromLibraryPath},
		{"system folder last", "", nil, empty, []string{empty, sysDir}, sysLib, FromSystem},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := finder{
				getenv:     func(k string) string { return tc.env[k] },
				cacheDir:   func() (string, error) { return tc.cacheDir, nil },
				systemDirs: tc.sysDirs,
			}
			got, err := f.find(tc.explicit)
			if err != nil {
				t.Fatalf("find: %v", err)
			}
			if got != (Library{tc.want, tc.source}) {
				t.Errorf("find = %+v, want %s from %s", got, tc.want, tc.source)
			}
		})
	}
}

func TestFindLibraryErrors(t *testing.T) {
	root := t.TempDir()
	cache := filepath.Join(root, "cache")
	touch(t, filepath.Join(cache, "libonnxruntime.so"))
	emptyCache := filepath.Join(root, "emptycache")
	missing := filepath.Join(root, "nowhere", "libonnxruntime.so")

	tests := []struct {
		name     string
		explicit string
		env      map[string]string
		cacheDir string
		cacheErr error
		sysDirs  []string
		wantIn   []string
	}{
		{"missing explicit path does not fall through to the cache", missing, nil, cache, nil, nil,
			[]string{missing, "does not exist"}},
		{"missing env path does not fall through to the cache", "", map[string]string{LibraryEnv: missing}, cache, nil, nil,
			[]string{missing, "$" + LibraryEnv, "does not exist"}},
		{"explicit folder is not a library", root, nil, cache, nil, nil,
			[]string{root, "not a regular file"}},
		{"nothing found lists where it looked", "", map[string]string{"LD_LIBRARY_PATH": filepath.Join(root, "ld")}, emptyCache, nil, []string{filepath.Join(root, "sys")},
			[]string{"not found", emptyCache, filepath.Join(root, "ld"), filepath.Join(root, "sys"), "task setup", "scripts/fetch-onnxruntime.sh", LibraryEnv}},
		{"no user cache folder", "", nil, "", errors.New("$HOME is not defined"), nil,
			[]string{"not found", "$HOME is not defined", "task setup"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := finder{
				getenv:     func(k string) string { return tc.env[k] },
				cacheDir:   func() (string, error) { return tc.cacheDir, tc.cacheErr },
				systemDirs: tc.sysDirs,
			}
			got, err := f.find(tc.explicit)
			if err == nil {
				t.Fatalf("find = %+v, want an error", got)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error has several lines: %q", msg)
			}
			for _, want := range tc.wantIn {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
		})
	}
}

// TestFindLibraryProcessEnv checks FindLibrary's wiring to the process:
// $BOT_ONNX_ORT_LIB and $XDG_CACHE_HOME (through os.UserCacheDir).
func TestFindLibraryProcessEnv(t *testing.T) {
	root := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", root)
	dir, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "bot-onnx", "onnxruntime", ORTVersion); dir != want {
		t.Errorf("CacheDir = %s, want %s", dir, want)
	}
	cached := touch(t, filepath.Join(dir, "libonnxruntime.so"))
	t.Setenv(LibraryEnv, "")
	if got, err := FindLibrary(""); err != nil || got != cached {
		t.Errorf("FindLibrary(\"\") = %q, %v; want %s", got, err, cached)
	}
	fromEnv := touch(t, filepath.Join(root, "env", "libonnxruntime.so"))
	t.Setenv(LibraryEnv, fromEnv)
	if got, err := FindLibrary(""); err != nil || got != fromEnv {
		t.Errorf("FindLibrary(\"\") with $%s = %q, %v; want %s", LibraryEnv, got, err, fromEnv)
	}
	missing := filepath.Join(root, "missing.so")
	if _, err := FindLibrary(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("FindLibrary(%s) error = %v, want one naming the path", missing, err)
	}
}

func TestFirstLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"\n  first\nsecond\n", "first"},
		{"", "unknown error"},
		{"/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:1952 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library x.so",
			"Failed to load library x.so"},
		{"Error loading temporary session: Load model from m.onnx failed:Protobuf parsing failed.",
			"Load model from m.onnx failed:Protobuf parsing failed."},
	}
	for _, tc := range tests {
		if got := firstLine(errors.New(tc.in)); got != tc.want {
			t.Errorf("firstLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// initSubprocessEnv names the file a child test process tries to load as
// ONNX Runtime before the real library (see TestInitBadLibrary).
const initSubprocessEnv = "BOT_ONNX_TEST_BAD_LIBRARY"

// TestInitBadLibrary checks that loading a file that is not ONNX Runtime
// gives a one-line error naming it and leaves Init free to load the real
// library afterwards. It runs in a child process, because ONNX Runtime can be
// loaded only once per process and other tests load it.
func TestInitBadLibrary(t *testing.T) {
	if bad := os.Getenv(initSubprocessEnv); bad != "" {
		err := Init(bad)
		if err == nil {
			t.Fatalf("Init(%s) succeeded on a file that is not a library", bad)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, bad) {
			t.Errorf("Init(%s) error = %q, want one line naming the file", bad, msg)
		}
		if LoadedLibrary() != "" || Version() != "" {
			t.Errorf("after a failed Init: LoadedLibrary = %q, Version = %q; want both empty", LoadedLibrary(), Version())
		}
		if err := Init(""); err != nil {
			t.Fatalf("Init(\"\") after a failed Init: %v", err)
		}
		return
	}
	if _, err := FindLibrary(""); err != nil {
		testenv.Missing(t, "ONNX Runtime not available: %v", err)
	}
	bad := touch(t, filepath.Join(t.TempDir(), "libonnxruntime.so"))
	if err := os.WriteFile(bad, []byte("not a shared library\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInitBadLibrary$", "-test.v")
	cmd.Env = append(os.Environ(), initSubprocessEnv+"="+bad)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestInitBadLibrary") {
		t.Fatalf("child process: %v\n%s", err, out)
	}
}
