// Package outbox is the durable outbox of mssante (issue 9 item 3): a message is stored — raw
// bytes with their Message-ID, envelope, DSN options, account — before any SMTP command, and
// sending it is a job of a queue kept in the store (internal/store: SQLite or PostgreSQL).
//
// # States
//
//	queued ──claim──▶ sending ──250──▶ sent ──reports──▶ delivered | read | bounced
//	   ▲                 │
//	   └── 4xx, I/O ─────┤ (back-off: exponential, jitter, cap; failed after MaxAttempts)
//	                     └── 5xx ──▶ failed (no retry)
//
// Each change is a row of the message's timeline (Timeline) with its time, reason, attempt and
// lease owner. Reports (DSN RFC 3464, MDN RFC 8098, bounces) are not read here: the local mail
// index finds them during sync and Refresh applies them through the Reports interface.
//
// # Exactly once, but for one window
//
// A worker takes a message by a lease (owner, expiry) in one write transaction: on PostgreSQL
// SELECT … FOR UPDATE SKIP LOCKED (concurrent workers of any process take different rows and
// never wait on each other), on SQLite the BEGIN IMMEDIATE transaction of store.InTx (the
// database write lock serialises the claims of every process on the file); the UPDATE repeats
// the "due" condition, so a row that stopped being due is never taken twice. While it sends, the
// worker renews its lease every third of Options.Lease; if it cannot, it abandons the
// submission before the end of DATA (the server discards an unfinished DATA), so two workers are
// never in a transaction for one message at once. A worker that dies leaves a lease that
// expires; another worker then takes the message again (the timeline says so). When
// Options.Dead says the owner is dead (LocalDead: a process of this host that no longer exists;
// the CLI uses it on SQLite), its leases are expired at once, so a restarted run resumes without
// waiting. Lease times are written by the claiming process's clock and compared by the others':
// across hosts, keep the clock skew well under a third of the lease. The outcome is
// recorded after the server's answer. Hence the only duplicate window: a crash (or a lease lost)
// between the end of DATA and the recording of the answer; the second copy carries the same
// Message-ID, which is in the stored bytes, so the recipient's index and the gateway show it once.
// Adding a message whose Message-ID the account already has stores nothing.
//
// # Why not River
//
// Issue 9 asks for River (riverqueue/river v0.51.2, drivers riversqlite and riverpgxv5) unless
// measurement shows it unfit on SQLite. The measurement is kept in testdata/rivermeasure (its own
// module, so River stays out of our go.mod):
//
//	cd internal/outbox/testdata/rivermeasure && go test -v -run . -bench . -benchtime 1x
//
// Figures on the 2-core build machine (2 December 2026, modernc.org/sqlite v1.62.0, WAL):
//
//   - riversqlite works with modernc.org/sqlite; its 8 migrations apply in 15–35 ms through
//     rivermigrate, with their own river_migration table, outside our migration runner.
//   - One process, 4 workers: enqueue 1,217 jobs/s (one transaction each) and work 401 jobs/s with
//     one connection (the driver's documented advice: SetMaxOpenConns(1)); 2,487 and 468 jobs/s
//     with four. Ample for SMTP submission.
//   - Two processes on one file, 500 jobs inserted while both work: every job ran once, no
//     SQLITE_BUSY failure surfaced.
//   - A process killed (SIGKILL) while running a job: the job ran again 19.8 s later, with
//     JobTimeout 5 s and RescueStuckJobsAfter 6 s (the shortest allowed); the rescuer runs on the
//     elected leader every 30 s (not configurable) and the default RescueStuckJobsAfter is 1 hour.
//     There is no lease renewal: a job running longer than RescueStuckJobsAfter is rescued while
//     it still runs — a second copy without a crash.
//   - Binary: a program opening SQLite grows from 9.7 MB to 16.0 MB with River and both drivers
//     (+6.3 MB; pgx, puddle, tidwall/gjson+sjson, golang-lru, uuid…).
//
// River is therefore not unfit on throughput; it is unfit for this outbox because:
//
//  1. Its "running" state has no renewable lease: recovery after a crash waits at least the
//     leader's 30 s rescue tick plus RescueStuckJobsAfter, and choosing that delay trades recovery
//     time against duplicates of slow but live submissions. Our lease is renewed while the worker
//     lives, expires soon after it dies, and is checked before the end of DATA.
//  2. The outbox needs its own row anyway (raw bytes, the state machine through delivered/read/
//     bounced, the timeline, status); River would be a second state machine beside it, and on
//     PostgreSQL riverpgxv5 works on a pgx pool while the store is database/sql, so storing the
//     message and enqueueing its job would be two transactions to reconcile after a crash.
//  3. The riversqlite driver describes itself as "in early testing" and asks for one connection
//     per pool, and its schema lives outside internal/store's migration runner.
//
// So the queue is the store itself, and every test of it runs on both dialects (storetest). Its
// own cost, same machine (BenchmarkOutbox: 1,000 messages added one transaction each, then sent
// by 4 workers through a sender that accepts at once): SQLite 3,945 adds/s and 1,461 sent/s;
// PostgreSQL 15 (local) 1,266 adds/s and 830 sent/s — above River's 1,217 and 401 jobs/s on
// SQLite, with the outbox row and timeline written, which River's figure does not include.
//
// # Measured duplicates
//
// cmd/mssante TestOutbox_killedRunsLoseNothing runs `mssante outbox run --once --workers 3
// --lease 2s` as an OS process against Postfix and Dovecot, kills it with SIGKILL 20–620 ms after
// its start, restarts it, and reads the recipient's mailbox over IMAP. With 300 messages
// (MSSANTE_OUTBOX_CRASH_N=300), 2 December 2026: SQLite, 30 runs all killed, 0 lost, 33 second
// copies; PostgreSQL, 29 runs all killed, 0 lost, 17 second copies (an earlier run: 24 kills and
// 26 copies, 41 kills and 31 copies); every second copy has the same Message-ID and follows a
// lease taken over from a killed run. A kill lands in the window often because the window is
// most of a submission's time: Postfix answers the end of DATA only once its queue file is on
// disk, a worker spends most of each message waiting for that answer, and lps.SMTPClient.Submit
// then appends the send to the audit trail (a write transaction on the same database) before it
// returns and the outcome is recorded; with three workers, a kill finds on average about one of
// them in the window.
package outbox
