// Package rivermeasure measures River v0.51.2 with its riversqlite driver on modernc.org/sqlite,
// the measurement behind the job-engine decision of internal/outbox (see its package doc). It is
// its own module so that River and its dependencies stay out of mssante's go.mod:
//
//	cd internal/outbox/testdata/rivermeasure && go test -v -run . -bench . -benchtime 1x
package rivermeasure

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite"
)

type sendArgs struct {
	N int `json:"n"`
}

func (sendArgs) Kind() string { return "send" }

// sendWorker records each run in a table, so duplicates and losses can be counted.
type sendWorker struct {
	river.WorkerDefaults[sendArgs]
	db   *sql.DB
	runs *atomic.Int64
}

func (w *sendWorker) Work(ctx context.Context, job *river.Job[sendArgs]) error {
	w.runs.Add(1)
	_, err := w.db.ExecContext(ctx, `INSERT INTO runs (n, pid) VALUES (?, ?)`, job.Args.N, os.Getpid())
	return err
}

func open(t testing.TB, path string, conns int) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(conns)
	t.Cleanup(func() { db.Close() })
	return db
}

func migrate(t testing.TB, db *sql.DB) {
	m, err := rivermigrate.New(riversqlite.New(db), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := m.Migrate(context.Background(), rivermigrate.DirectionUp, nil)
	if err != nil {
		t.Fatalf("river migrations on modernc sqlite: %v", err)
	}
	t.Logf("river migrations: %d versions in %v", len(res.Versions), time.Since(start))
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS runs (n INTEGER NOT NULL, pid INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
}

func client(t testing.TB, db *sql.DB, workers int, runs *atomic.Int64) *river.Client[*sql.Tx] {
	ws := river.NewWorkers()
	river.AddWorker(ws, &sendWorker{db: db, runs: runs})
	c, err := river.NewClient(riversqlite.New(db), &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}},
		Workers:           ws,
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		Logger:            nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enqueue inserts n jobs, one transaction each, as `outbox add` stores one message per file.
func enqueue(t testing.TB, c *river.Client[*sql.Tx], from, n int) time.Duration {
	start := time.Now()
	for i := from; i < from+n; i++ {
		if _, err := c.Insert(context.Background(), sendArgs{N: i}, nil); err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	return time.Since(start)
}

func waitDone(t testing.TB, db *sql.DB, n int, limit time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < limit {
		var done int
		if err := db.QueryRow(`SELECT count(DISTINCT n) FROM runs`).Scan(&done); err == nil && done >= n {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("not all %d jobs worked after %v", n, limit)
	return 0
}

// BenchmarkRiverSQLite: enqueue then work 1,000 jobs in one process, 4 workers, one connection
// (the driver's advice) and then 4 connections.
func BenchmarkRiverSQLite(b *testing.B) {
	for _, conns := range []int{1, 4} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			const n = 1000
			for b.Loop() {
				db := open(b, filepath.Join(b.TempDir(), "river.db"), conns)
				migrate(b, db)
				var runs atomic.Int64
				c := client(b, db, 4, &runs)
				ins := enqueue(b, c, 0, n)
				start := time.Now()
				if err := c.Start(context.Background()); err != nil {
					b.Fatal(err)
				}
				waitDone(b, db, n, 5*time.Minute)
				work := time.Since(start)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c.Stop(ctx)
				cancel()
				b.ReportMetric(float64(n)/ins.Seconds(), "enqueue/s")
				b.ReportMetric(float64(n)/work.Seconds(), "work/s")
				b.Logf("conns=%d: enqueue %d in %v (%.0f/s), work in %v (%.0f/s), runs %d", conns, n, ins,
					float64(n)/ins.Seconds(), work, float64(n)/work.Seconds(), runs.Load())
			}
		})
	}
}

// TestRiverSQLiteTwoProcesses runs two River clients in two OS processes on one SQLite file
// while jobs are being inserted, and counts errors, duplicates and losses.
func TestRiverSQLiteTwoProcesses(t *testing.T) {
	if path := os.Getenv("RIVERMEASURE_CHILD"); path != "" {
		child(t, path)
		return
	}
	path := filepath.Join(t.TempDir(), "river.db")
	db := open(t, path, 1)
	migrate(t, db)
	const n = 500
	var procs []*exec.Cmd
	for i := 0; i < 2; i++ {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestRiverSQLiteTwoProcesses$", "-test.v")
		cmd.Env = append(os.Environ(), "RIVERMEASURE_CHILD="+path, "RIVERMEASURE_N="+strconv.Itoa(n))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
	}
	var runs atomic.Int64
	c := client(t, db, 1, &runs) // inserter only, not started
	ins := enqueue(t, c, 0, n)
	t.Logf("inserted %d while two processes work: %v (%.0f/s)", n, ins, float64(n)/ins.Seconds())
	work := waitDone(t, db, n, 5*time.Minute)
	for _, p := range procs {
		p.Process.Signal(os.Interrupt)
		p.Wait()
	}
	var total, distinct, pids int
	db.QueryRow(`SELECT count(*), count(DISTINCT n), count(DISTINCT pid) FROM runs`).Scan(&total, &distinct, &pids)
	t.Logf("two processes: %d runs of %d distinct jobs by %d processes, %d duplicates, done %v after the inserts", total, distinct, pids, total-distinct, work)
}

func child(t *testing.T, path string) {
	db := open(t, path, 1)
	var runs atomic.Int64
	c := client(t, db, 4, &runs)
	var errs atomic.Int64
	sub, cancelSub := c.Subscribe(river.EventKindJobFailed)
	defer cancelSub()
	go func() {
		for range sub {
			errs.Add(1)
		}
	}()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	n, _ := strconv.Atoi(os.Getenv("RIVERMEASURE_N"))
	for time.Now().Before(deadline) {
		var done int
		db.QueryRow(`SELECT count(DISTINCT n) FROM runs`).Scan(&done)
		if done >= n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Stop(ctx)
	t.Logf("child %d: %d runs, %d failed job attempts", os.Getpid(), runs.Load(), errs.Load())
}
