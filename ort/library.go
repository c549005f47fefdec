// Package ort runs ONNX models with ONNX Runtime, through
// github.com/yalue/onnxruntime_go. It is the one place in bot-onnx that
// touches ONNX Runtime: export checks parity with it, train uses it for a
// distillation teacher, transfer and eval run models with it.
//
// It owns three things the callers should not each redo:
//   - finding the ONNX Runtime shared library (FindLibrary): a flag, the
//     BOT_ONNX_ORT_LIB environment variable, the per-user cache filled by
//     scripts/fetch-onnxruntime.sh (`./scripts/task setup`), then the system's folders;
//   - loading it once per process (Init), since ONNX Runtime has one
//     environment per process;
//   - choosing the execution provider (CPU, CUDA, TensorRT) and falling back
//     to the CPU when "auto" finds no usable GPU build, saying why (Session).
//
// Sessions take and return float32 tensors only, which is what the project's
// models use.
package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// ORTVersion is the ONNX Runtime release that scripts/fetch-onnxruntime.sh
// installs into the per-user cache; it names the cache folder so that a
// newer pinned release never picks up an older library.
const ORTVersion = "1.24.3"

// LibraryEnv is the environment variable that names the ONNX Runtime shared
// library to use, e.g. a GPU build from an onnxruntime-gpu release.
const LibraryEnv = "BOT_ONNX_ORT_LIB"

// libraryNames are the file names tried in each folder, in order.
var libraryNames = []string{"libonnxruntime.so", "libonnxruntime.so.1"}

// CacheDir returns the folder scripts/fetch-onnxruntime.sh installs the
// library into: os.UserCacheDir()/bot-onnx/onnxruntime/<ORTVersion>
// (on Linux ${XDG_CACHE_HOME:-$HOME/.cache}/bot-onnx/onnxruntime/1.24.3).
func CacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("locating the user cache folder: %w", err)
	}
	return filepath.Join(base, "bot-onnx", "onnxruntime", ORTVersion), nil
}

// finder holds what library discovery reads from the process, so that tests
// can give it a controlled environment.
type finder struct {
	getenv     func(string) string
	cacheDir   func() (string, error)
	systemDirs []string
}

// systemLibraryDirs are the system folders searched after LD_LIBRARY_PATH.
func systemLibraryDirs() []string {
	dirs := []string{"/usr/local/lib", "/usr/lib"}
	switch runtime.GOARCH {
	case "amd64":
		dirs = append(dirs, "/usr/lib/x86_64-linux-gnu")
	case "arm64":
		dirs = append(dirs, "/usr/lib/aarch64-linux-gnu")
	}
	return dirs
}

// FindLibrary returns the path of the ONNX Runtime shared library to load.
// It takes the first of:
//  1. explicit (a command-line flag), if not empty;
//  2. the file named by $BOT_ONNX_ORT_LIB, if set;
//  3. libonnxruntime.so or libonnxruntime.so.1 in CacheDir();
//  4. libonnxruntime.so or libonnxruntime.so.1 in the folders of
//     $LD_LIBRARY_PATH, then /usr/local/lib, /usr/lib and the multiarch
//     folder (/usr/lib/x86_64-linux-gnu).
//
// A path given explicitly or through the environment that does not exist is
// an error naming it, not a reason to look elsewhere: the user asked for that
// library. When nothing is found the error lists where it looked and says how
// to install the library.
func FindLibrary(explicit string) (string, error) {
	lib, err := LocateLibrary(explicit)
	return lib.Path, err
}

// Library is the ONNX Runtime shared library FindLibrary chooses, and the
// step of the search that chose it.
type Library struct {
	Path   string
	Source LibrarySource
}

// LibrarySource names a step of FindLibrary's search.
type LibrarySource string

// The steps of FindLibrary's search, in order.
const (
	FromFlag        LibrarySource = "--ort-lib"
	FromEnv         LibrarySource = "$" + LibraryEnv
	FromUserCache   LibrarySource = "user cache"
	FromLibraryPath LibrarySource = "$LD_LIBRARY_PATH"
	FromSystem      LibrarySource = "system folder"
)

// LocateLibrary is FindLibrary that also says which step of the search
// found the library, for `bot-onnx doctor`.
func LocateLibrary(explicit string) (Library, error) {
	return finder{getenv: os.Getenv, cacheDir: CacheDir, systemDirs: systemLibraryDirs()}.find(explicit)
}

// searchDir is a folder FindLibrary looks in and the step it belongs to.
type searchDir struct {
	dir    string
	source LibrarySource
}

func (f finder) find(explicit string) (Library, error) {
	if explicit != "" {
		path, err := checkLibraryFile(explicit, "ONNX Runtime library")
		return Library{path, FromFlag}, err
	}
	if env := f.getenv(LibraryEnv); env != "" {
		path, err := checkLibraryFile(env, "ONNX Runtime library named by $"+LibraryEnv)
		return Library{path, FromEnv}, err
	}
	var dirs []searchDir
	looked := []string{"$" + LibraryEnv + " (unset)"}
	if dir, err := f.cacheDir(); err == nil {
		dirs = append(dirs, searchDir{dir, FromUserCache})
	} else {
		looked = append(looked, "the user cache ("+err.Error()+")")
	}
	for _, dir := range filepath.SplitList(f.getenv("LD_LIBRARY_PATH")) {
		if dir != "" {
			dirs = append(dirs, searchDir{dir, FromLibraryPath})
		}
	}
	for _, dir := range f.systemDirs {
		dirs = append(dirs, searchDir{dir, FromSystem})
	}
	for _, d := range dirs {
		for _, name := range libraryNames {
			p := filepath.Join(d.dir, name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return Library{p, d.source}, nil
			}
		}
		looked = append(looked, d.dir)
	}
	return Library{}, fmt.Errorf("ONNX Runtime library (%s) not found; looked in %s; run `./scripts/task setup` (or scripts/fetch-onnxruntime.sh) in the bot-onnx repository to install ONNX Runtime %s into the user cache, or set $%s to its path",
		strings.Join(libraryNames, " or "), strings.Join(looked, ", "), ORTVersion, LibraryEnv)
}

// checkLibraryFile returns path if it names a regular file (following
// symbolic links), else an error that says what was wanted and names path.
func checkLibraryFile(path, what string) (string, error) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("%s %s does not exist", what, path)
	case err != nil:
		return "", fmt.Errorf("%s %s: %w", what, path, err)
	case !st.Mode().IsRegular():
		return "", fmt.Errorf("%s %s is not a regular file", what, path)
	}
	return path, nil
}

var (
	initMu sync.Mutex
	// loadedPath is the library Init loaded; empty until Init succeeds.
	loadedPath string
)

// Init loads the ONNX Runtime library found by FindLibrary(libPath) and
// creates the process's ONNX Runtime environment. ONNX Runtime allows one
// environment per process, so Init does the work once: later calls with an
// empty libPath or the same library (after resolving symbolic links) return
// nil, and a call naming a different library is an error. A failed Init
// leaves nothing loaded and may be retried. NewSession calls Init itself.
func Init(libPath string) error {
	initMu.Lock()
	defer initMu.Unlock()
	if loadedPath != "" {
		if libPath == "" || sameFile(libPath, loadedPath) {
			return nil
		}
		return fmt.Errorf("ONNX Runtime is already loaded from %s in this process; cannot load %s as well", loadedPath, libPath)
	}
	path, err := FindLibrary(libPath)
	if err != nil {
		return err
	}
	ort.SetSharedLibraryPath(path)
	// Fatal only: an error ONNX Runtime logs also comes back from the call
	// that failed, which reports it in one line; its own log line would
	// repeat it, in colour, on stderr.
	if err := ort.InitializeEnvironment(ort.WithLogLevelFatal()); err != nil {
		return fmt.Errorf("loading ONNX Runtime from %s (bot-onnx needs ONNX Runtime ≥ 1.24 built for this system): %s", path, firstLine(err))
	}
	loadedPath = path
	return nil
}

// sameFile reports whether a and b resolve to the same file.
func sameFile(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// LoadedLibrary returns the path of the library Init loaded, or "" before a
// successful Init; commands print it so users know which build runs.
func LoadedLibrary() string {
	initMu.Lock()
	defer initMu.Unlock()
	return loadedPath
}

// HasGPUProviders reports whether the loaded library can start a GPU
// provider at all: ONNX Runtime lists CUDA and TensorRT among its
// providers even in its CPU-only build, but loads them through
// libonnxruntime_providers_shared.so beside the main library, which only
// GPU builds ship. False before a successful Init.
func HasGPUProviders() bool {
	path := LoadedLibrary()
	if path == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(filepath.Dir(path), "libonnxruntime_providers_shared.so"))
	return err == nil
}

// Version returns the loaded ONNX Runtime's version (e.g. "1.24.3"), or ""
// before a successful Init.
func Version() string {
	initMu.Lock()
	defer initMu.Unlock()
	if loadedPath == "" {
		return ""
	}
	return ort.GetVersion()
}

// ortErrorHeader matches the source location and status code ONNX Runtime
// puts before its messages ("/onnxruntime_src/...cc:1952 onnxruntime::...
// [ONNXRuntimeError] : 1 : FAIL : ").
var ortErrorHeader = regexp.MustCompile(`^.*\[ONNXRuntimeError\] : \d+ : \w+ : `)

// goWrapperPrefixes are the prefixes onnxruntime_go v1.27 adds to ONNX
// Runtime's messages; they name its internals, not anything users did.
var goWrapperPrefixes = []string{
	"Error loading temporary session: ",
	"Error creating temporary session: ",
	"Error creating C session from file: ",
	"Error creating C session: ",
	"Error running network: ",
}

// firstLine condenses an ONNX Runtime error to one line for users: its first
// non-empty line (later lines may hold stack traces), without onnxruntime_go's
// prefixes and ONNX Runtime's source location.
func firstLine(err error) string {
	msg := "unknown error"
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			msg = line
			break
		}
	}
	for _, p := range goWrapperPrefixes {
		msg = strings.TrimPrefix(msg, p)
	}
	return ortErrorHeader.ReplaceAllString(msg, "")
}
