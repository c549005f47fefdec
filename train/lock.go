package train

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// LockFile is the file of a run folder that the process writing the folder
// holds an exclusive lock on, and into which it writes who it is.
const LockFile = ".lock"

// lockAttempts bounds LockDir's retries when the lock file or its folder
// is removed by a finishing holder between LockDir's open and its lock.
const lockAttempts = 10

// LockDir claims the folder dir for this process: it creates dir if need
// be and holds an exclusive flock(2) on dir/.lock, with this process's pid,
// host and start time written in it, until unlock is called. The kernel
// drops the lock when the process ends however it ends (SIGKILL included),
// so a stale file never blocks a later run. When another process holds
// the lock, LockDir fails at once with an error naming dir and the holder.
//
// Holding the lock, LockDir removes the temporary files of atomic writes
// (".NAME.tmp-*", see graph.WriteFileAtomic) that a killed holder left in
// dir: only a holder writes there, so none of them is in use.
//
// unlock removes the lock file, then releases the lock, and removes the
// folders LockDir created if they are still empty: a run refused before
// writing anything leaves nothing behind.
func LockDir(dir string) (unlock func() error, err error) {
	top, err := firstMissing(dir)
	if err != nil {
		return nil, err
	}
	f, err := lockFile(dir)
	if err != nil {
		removeEmpty(dir, top)
		return nil, err
	}
	path := filepath.Join(dir, LockFile)
	if err := writeHolder(f); err != nil {
		f.Close()
		os.Remove(path)
		removeEmpty(dir, top)
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	if err := removeStaleTemps(dir); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return func() error {
		// Removed while still held: a process that opens the name after
		// this gets a fresh file, and one that opened the old file finds
		// it unlinked once it has the lock, and tries again.
		err := os.Remove(path)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		removeEmpty(dir, top)
		if err != nil {
			return fmt.Errorf("releasing %s: %w", path, err)
		}
		return nil
	}, nil
}

// BusyError refuses a folder whose lock another bot-onnx run holds.
type BusyError struct {
	Dir    string
	Holder string // who holds the lock: pid, host and start time
}

func (e *BusyError) Error() string { return e.Describe(func(field string) string { return field }) }

// Describe gives the refusal, as FieldError.Describe, with the field Out,
// which chooses the folder in the configurations that lock one, named by
// name; the folder is plain "folder" when name leaves Out as it is.
func (e *BusyError) Describe(name func(field string) string) string {
	other := "folder"
	if n := name("Out"); n != "Out" {
		other = n
	}
	return fmt.Sprintf("%s is in use by another bot-onnx run (%s): wait for it to finish, or choose another %s", e.Dir, e.Holder, other)
}

// lockFile creates dir and takes the lock on dir/.lock, retrying when a
// finishing holder removes the file (or the folder it created) between
// the open and the lock.
func lockFile(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockFile)
	for range lockAttempts {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating the run folder: %w", err)
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("opening the lock file: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			holder, _ := io.ReadAll(io.LimitReader(f, 512))
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, &BusyError{Dir: dir, Holder: describeHolder(holder)}
			}
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if current, err := os.Stat(path); err == nil {
			if held, err := f.Stat(); err == nil && os.SameFile(current, held) {
				return f, nil
			}
		}
		f.Close()
	}
	return nil, fmt.Errorf("locking %s: the file kept being removed by other processes (%d attempts)", path, lockAttempts)
}

// writeHolder replaces the lock file's content with this process's
// identity, for the message of a process refused the lock.
func writeHolder(f *os.File) error {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown host"
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "pid %d on %s, started %s\n", os.Getpid(), host, time.Now().Format("2006-01-02 15:04:05 MST"))
	return err
}

// describeHolder turns a lock file's content into the holder's
// description; a holder that has not written it yet is one starting up.
func describeHolder(content []byte) string {
	if s := strings.TrimSpace(string(content)); s != "" {
		return s
	}
	return "starting up; its pid is not written yet"
}

// firstMissing returns the outermost folder on the way to dir that does
// not exist yet, or "" when dir exists: what LockDir creates and may remove.
func firstMissing(dir string) (string, error) {
	top := ""
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		_, err := os.Stat(d)
		if err == nil {
			return top, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("run folder %s: %w", dir, err)
		}
		top = d
		if parent := filepath.Dir(d); parent == d {
			return top, nil
		}
	}
}

// removeEmpty removes dir and its parents up to top while they are empty
// (top "" removes nothing): the folders LockDir made for a run that wrote
// nothing.
func removeEmpty(dir, top string) {
	if top == "" {
		return
	}
	for d := filepath.Clean(dir); d != top; d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			return
		}
	}
	os.Remove(top)
}

// removeStaleTemps deletes the temporary files of interrupted atomic
// writes in dir.
func removeStaleTemps(dir string) error {
	stale, err := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	if err != nil {
		return err
	}
	for _, p := range stale {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing %s, left by an interrupted run: %w", p, err)
		}
	}
	return nil
}
