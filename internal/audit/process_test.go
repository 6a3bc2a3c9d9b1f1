package audit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
)

// The environment that turns the test binary into an appending process.
const (
	envAppendURL   = "MSSANTE_AUDIT_TEST_APPEND_URL"
	envAppendCount = "MSSANTE_AUDIT_TEST_APPEND_COUNT"
	envAppendName  = "MSSANTE_AUDIT_TEST_APPEND_NAME"
)

// TestHelperAppendProcess is not a test: run by TestAppend_twoProcesses as a child process, it
// appends to the trail of the database named in its environment, after a line on stdin.
func TestHelperAppendProcess(t *testing.T) {
	url := os.Getenv(envAppendURL)
	if url == "" {
		t.Skip("helper process of TestAppend_twoProcesses")
	}
	n, _ := strconv.Atoi(os.Getenv(envAppendCount))
	name := os.Getenv(envAppendName)
	ctx := context.Background()
	db, err := store.Open(ctx, url, Migrations...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tr := New(db, nil)
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := tr.Append(ctx, Event{Author: name, Account: "a@b.test", Action: ActionList,
			Request: fmt.Sprintf("%s %d", name, i), Response: "OK", OK: true}); err != nil {
			t.Fatal(err)
		}
		// A process does other work between two events; without a pause, SQLite's busy handler
		// (the waiter sleeps, the holder takes the lock again at once) lets one process run
		// all its appends while the other waits, and the chain proves less.
		time.Sleep(time.Millisecond)
	}
}

// ECO.4.1.2: two processes appending to one database at the same time keep one valid chain, the
// database serialising the appends (a locked head row), and a changed record is still found.
func TestAppend_twoProcesses(t *testing.T) {
	if os.Getenv(envAppendURL) != "" {
		t.Skip("in a helper process")
	}
	const each = 300
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			url := storetest.URL(t, d)
			ctx := context.Background()
			db, err := store.Open(ctx, url, Migrations...)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			type child struct {
				cmd   *exec.Cmd
				stdin io.WriteCloser
			}
			var children []child
			for _, name := range []string{"proc-A", "proc-B"} {
				cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAppendProcess$", "-test.count=1")
				cmd.Env = append(os.Environ(), envAppendURL+"="+url, envAppendCount+"="+strconv.Itoa(each), envAppendName+"="+name)
				cmd.Stderr = os.Stderr
				stdin, err := cmd.StdinPipe()
				if err != nil {
					t.Fatal(err)
				}
				stdout, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
				// Wait until the child has opened the database, so that both start appending together.
				line, err := bufio.NewReader(stdout).ReadString('\n')
				if err != nil || line != "ready\n" {
					t.Fatalf("%s: %q, %v", name, line, err)
				}
				go io.Copy(io.Discard, stdout) //nolint:errcheck // drain the test framework's output
				children = append(children, child{cmd, stdin})
			}
			for _, c := range children {
				if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range children {
				if err := c.cmd.Wait(); err != nil {
					t.Fatalf("appending process: %v", err)
				}
			}
			tr := New(db, nil)
			r, err := tr.Verify(ctx)
			if err != nil || r.Events != 2*each || r.LastSeq != 2*each {
				t.Fatalf("Verify after two processes = %+v, %v", r, err)
			}
			// The appends interleaved: otherwise the test proved nothing about concurrency.
			rows, err := db.QueryContext(ctx, `SELECT author FROM audit_events ORDER BY seq`)
			if err != nil {
				t.Fatal(err)
			}
			switches, prev := 0, ""
			for rows.Next() {
				var a string
				if err := rows.Scan(&a); err != nil {
					t.Fatal(err)
				}
				if prev != "" && a != prev {
					switches++
				}
				prev = a
			}
			rows.Close()
			t.Logf("%d events, the author changed %d times along the chain", r.Events, switches)
			if switches < 2 {
				t.Fatalf("the two processes did not append at the same time (%d switches)", switches)
			}
			if _, err := db.ExecContext(ctx, `UPDATE audit_events SET response = 'NO' WHERE seq = ?`, each); err != nil {
				t.Fatal(err)
			}
			r, err = tr.Verify(ctx)
			if !errors.Is(err, ErrTampered) || len(r.Problems) == 0 || r.Problems[0].Seq != each {
				t.Fatalf("Verify after changing event %d = %+v, %v", each, r.Problems, err)
			}
		})
	}
}
