package rivermeasure

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
)

// hangWorker records its start and then hangs in the first process, like a send stuck before the
// server's answer when the process is killed.
type hangWorker struct {
	river.WorkerDefaults[sendArgs]
	db   *sql.DB
	hang bool
}

func (w *hangWorker) Work(ctx context.Context, job *river.Job[sendArgs]) error {
	if _, err := w.db.ExecContext(ctx, `INSERT INTO runs (n, pid) VALUES (?, ?)`, job.Args.N, os.Getpid()); err != nil {
		return err
	}
	if w.hang {
		<-ctx.Done()
	}
	return nil
}

func rescueClient(t testing.TB, db *sql.DB, hang bool) *river.Client[*sql.Tx] {
	ws := river.NewWorkers()
	river.AddWorker(ws, &hangWorker{db: db, hang: hang})
	c, err := river.NewClient(riversqlite.New(db), &river.Config{
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}},
		Workers:              ws,
		FetchCooldown:        5 * time.Millisecond,
		FetchPollInterval:    50 * time.Millisecond,
		JobTimeout:           5 * time.Second,
		RescueStuckJobsAfter: 6 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRiverSQLiteRescueAfterKill: a process takes a job and is killed (SIGKILL); how long until
// a second process runs the job again?
func TestRiverSQLiteRescueAfterKill(t *testing.T) {
	if path := os.Getenv("RIVERMEASURE_HANG"); path != "" {
		db := open(t, path, 1)
		c := rescueClient(t, db, true)
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		select {}
	}
	path := filepath.Join(t.TempDir(), "river.db")
	db := open(t, path, 1)
	migrate(t, db)
	var runs atomic.Int64
	ins := client(t, db, 1, &runs)
	if _, err := ins.Insert(context.Background(), sendArgs{N: 1}, nil); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestRiverSQLiteRescueAfterKill$")
	cmd.Env = append(os.Environ(), "RIVERMEASURE_HANG="+path)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, db, 1, time.Minute)
	cmd.Process.Kill()
	cmd.Wait()
	killed := time.Now()
	second := rescueClient(t, db, false)
	if err := second.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer second.Stop(context.Background())
	for time.Since(killed) < 5*time.Minute {
		var n int
		db.QueryRow(`SELECT count(*) FROM runs`).Scan(&n)
		if n >= 2 {
			t.Logf("job run again %v after the SIGKILL (JobTimeout 5s, RescueStuckJobsAfter 6s)", time.Since(killed))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("job not rescued within 5 minutes")
}
