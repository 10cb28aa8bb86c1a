// Command godiag-dlv-wrapper runs headless dlv in godiag's ephemeral debugger container under a
// hard deadline and, whatever happens, leaves the target running afterwards: it sends SIGCONT
// and checks /proc/<pid>/status for a stopped state (a dlv killed early in its attach can leave
// the target stopped). Its outcome is the container's termination message, as one JSON object.
//
// The image holds only this wrapper and a static dlv: no shell, no debuginfod-find.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Outcome is what the termination message holds.
type Outcome struct {
	PID         int    `json:"pid"`
	DlvExit     int    `json:"dlvExit"`
	DlvRanMs    int64  `json:"dlvRanMs"`
	DeadlineHit bool   `json:"deadlineHit"`
	TargetState string `json:"targetState"`
	Resumed     bool   `json:"resumed"`
	Error       string `json:"error,omitempty"`
	DlvOutput   string `json:"dlvOutput,omitempty"`
}

// tail keeps the last bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.ToValidUTF8(t.buf, []byte("?")))
}

func main() {
	listen := flag.String("listen", "127.0.0.1:40163", "where dlv listens (loopback only)")
	deadline := flag.Duration("deadline", 90*time.Second, "dlv is stopped after this long, whatever happens")
	pid := flag.Int("pid", 0, "the process to attach to")
	process := flag.String("process", "", "attach to the process whose command line starts with this")
	dlv := flag.String("dlv", "/dlv", "the dlv binary")
	multiclient := flag.Bool("multiclient", false, "keep dlv serving after a client leaves (sessions)")
	cont := flag.Bool("continue", false, "let the target run while attached (sessions)")
	termLog := flag.String("termination-log", "/dev/termination-log", "where the outcome is written")
	flag.Parse()

	out := Outcome{PID: *pid}
	defer func() { finish(&out, *termLog) }()
	if !strings.HasPrefix(*listen, "127.0.0.1:") && !strings.HasPrefix(*listen, "[::1]:") {
		out.Error = "refusing to listen on " + *listen + ": dlv must listen on loopback only"
		return
	}
	if *process != "" {
		p, err := findProcess(*process)
		if err != nil {
			out.Error = err.Error()
			return
		}
		out.PID = p
	}
	if out.PID <= 0 {
		out.Error = "no target: pass --pid or --process"
		return
	}
	args := []string{"attach", strconv.Itoa(out.PID), "--headless", "--listen=" + *listen, "--api-version=2",
		// Port-forwarded connections come from the container runtime, not from this user; safe
		// only because the listener is loopback.
		"--only-same-user=false"}
	if *multiclient {
		args = append(args, "--accept-multiclient")
	}
	if *cont {
		args = append(args, "--continue")
	}
	cmd := exec.Command(*dlv, args...)
	captured := &tail{max: 1500}
	cmd.Stdout = io.MultiWriter(os.Stdout, captured)
	cmd.Stderr = io.MultiWriter(os.Stderr, captured)
	started := time.Now()
	if err := cmd.Start(); err != nil {
		out.Error = "cannot start dlv: " + err.Error()
		return
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(*deadline):
		out.DeadlineHit = true
		// SIGTERM: dlv halts only if the target runs, then detaches without killing it.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			err = <-done
		}
	}
	out.DlvRanMs = time.Since(started).Milliseconds()
	out.DlvOutput = captured.String()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		out.DlvExit = exitErr.ExitCode()
	} else if err != nil {
		out.DlvExit = -1
	}
}

// finish makes sure the target runs, writes the outcome and exits.
func finish(out *Outcome, termLog string) {
	if out.PID > 0 {
		out.TargetState, out.Resumed = resume(out.PID)
	}
	b, _ := json.Marshal(out)
	// Kubernetes keeps at most 4096 bytes of the termination message.
	for len(b) > 4000 && len(out.DlvOutput) > 0 {
		out.DlvOutput = out.DlvOutput[len(out.DlvOutput)/2:]
		b, _ = json.Marshal(out)
	}
	_ = os.WriteFile(termLog, b, 0o644)
	fmt.Println(string(b))
	switch {
	case out.PID > 0 && !out.Resumed && out.TargetState != "exited":
		os.Exit(3)
	case out.Error != "":
		os.Exit(2)
	case out.DlvExit != 0:
		os.Exit(1)
	}
	os.Exit(0)
}

// resume sends SIGCONT until /proc/<pid>/status no longer says stopped (T) or traced (t).
// SIGCONT to a running process does nothing.
func resume(pid int) (string, bool) {
	state := ""
	for i := 0; i < 20; i++ {
		_ = syscall.Kill(pid, syscall.SIGCONT)
		s, err := procState(pid)
		if err != nil {
			return "exited", false
		}
		state = s
		if !strings.HasPrefix(s, "T") && !strings.HasPrefix(s, "t") {
			return s, true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return state, false
}

func procState(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "State:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", errors.New("no State line")
}

// findProcess returns the lowest PID whose command line (arguments joined by spaces) starts
// with prefix, other than this wrapper.
func findProcess(prefix string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var pids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		if err != nil || len(b) == 0 {
			continue
		}
		cmdline := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		if strings.HasPrefix(cmdline, prefix) {
			pids = append(pids, p)
		}
	}
	if len(pids) == 0 {
		return 0, fmt.Errorf("no process whose command line starts with %q", prefix)
	}
	sort.Ints(pids)
	return pids[0], nil
}
