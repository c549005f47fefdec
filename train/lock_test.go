package train

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestLockDirContention takes a folder's lock twice in one process (flock
// locks belong to open files, so the second take conflicts as another
// process's would): the second fails naming the folder and the holder,
// and succeeds once the first is released.
func TestLockDirContention(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	unlock, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockDir(dir)
	if err == nil {
		t.Fatal("a second LockDir on a held folder succeeded")
	}
	for _, want := range []string{dir + " is in use by another bot-onnx run", fmt.Sprintf("pid %d on ", os.Getpid()), "started ", "choose another folder"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	again, err := LockDir(dir)
	if err != nil {
		t.Fatalf("LockDir after unlock: %v", err)
	}
	if err := again(); err != nil {
		t.Fatal(err)
	}
}

// TestLockDirCleansUp checks what unlock leaves: the folders LockDir
// created go when nothing was written in them, a folder that existed or
// holds a run's files stays, and the lock file always goes.
func TestLockDirCleansUp(t *testing.T) {
	tests := []struct {
		name     string
		existing string   // folder made before LockDir, relative to the root ("" for none)
		lock     string   // the folder locked
		write    string   // a file written under lock ("" for none)
		want     []string // every path left under the root afterwards
	}{
		{"fresh nested folders, nothing written", "", "a/b/c", "", nil},
		{"fresh folder inside an existing one", "a", "a/b", "", []string{"a"}},
		{"existing folder", "a", "a", "", []string{"a"}},
		{"fresh folder with a run's file", "", "a/b", "metrics.jsonl", []string{"a", "a/b", "a/b/metrics.jsonl"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.existing != "" {
				if err := os.MkdirAll(filepath.Join(root, tc.existing), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			dir := filepath.Join(root, tc.lock)
			unlock, err := LockDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if tc.write != "" {
				if err := os.WriteFile(filepath.Join(dir, tc.write), []byte("{}\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := unlock(); err != nil {
				t.Fatal(err)
			}
			var left []string
			filepath.WalkDir(root, func(path string, _ fs.DirEntry, err error) error {
				if rel, _ := filepath.Rel(root, path); rel != "." {
					left = append(left, rel)
				}
				return err
			})
			if !slices.Equal(left, tc.want) {
				t.Errorf("left %q; expected %q", left, tc.want)
			}
		})
	}
}

// TestLockDirAfterHolderKilled has a child process hold the lock (through
// an inherited descriptor) and kills it with SIGKILL: its lock file stays
// behind with its content, and does not block LockDir once it is dead.
func TestLockDirAfterHolderKilled(t *testing.T) {
	dir := t.TempDir()
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "pid 424242 on elsewhere, started long ago\n")
	holder := exec.Command("sleep", "60")
	holder.ExtraFiles = []*os.File{f}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close() // the child's descriptor keeps the lock
	if _, err := LockDir(dir); err == nil || !strings.Contains(err.Error(), "pid 424242 on elsewhere") {
		holder.Process.Kill()
		t.Fatalf("LockDir while the child holds the lock: %v; expected a refusal naming the holder", err)
	}
	holder.Process.Signal(syscall.SIGKILL)
	holder.Wait()
	unlock, err := LockDir(dir)
	if err != nil {
		t.Fatalf("LockDir after the holder was killed: %v", err)
	}
	content, _ := os.ReadFile(filepath.Join(dir, LockFile))
	if want := fmt.Sprintf("pid %d on ", os.Getpid()); !strings.HasPrefix(string(content), want) {
		t.Errorf("lock file holds %q; expected it to start with %q", content, want)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
}

// TestTrainRefusesALockedFolder runs Train into a folder another run
// holds: refused before anything is written there.
func TestTrainRefusesALockedFolder(t *testing.T) {
	dataDir, model := fixture(t, 10)
	out := filepath.Join(t.TempDir(), "run")
	unlock, err := LockDir(out)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = Train(context.Background(), config(dataDir, model, out, 1))
	if err == nil || !strings.Contains(err.Error(), "is in use by another bot-onnx run") {
		t.Fatalf("Train into a locked folder: %v; expected a refusal", err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 1 {
		t.Errorf("the locked folder holds %d entries; expected only %s", len(entries), LockFile)
	}
}

// TestLockDirRemovesStaleTemps checks that taking a folder's lock sweeps
// the temporary files a killed run left mid-write, and nothing else.
func TestLockDirRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{".checkpoint.bin.tmp-123", ".model.onnx.tmp-9", "model.onnx", "notes.tmp-1"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	unlock, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{LockFile, "model.onnx", "notes.tmp-1"}; !slices.Equal(names, want) {
		t.Errorf("folder holds %v, want %v", names, want)
	}
}
