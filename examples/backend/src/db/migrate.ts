// Applies migrations/*.sql in file-name order. Each file runs in ONE transaction together with
// its row in schema_migrations, so a file is either applied and recorded or not at all; a second
// run applies nothing. On failure it names the file and says exactly what became of it, never
// more than it knows (files applied before it in the same run stay applied and recorded):
// - a file that would end or open a transaction itself (BEGIN, COMMIT, ROLLBACK...) is refused
//   before any of it runs: its COMMIT would make part of it permanent while the rest failed;
// - an error before COMMIT: the transaction never committed, so the file was rolled back;
// - an error in COMMIT itself (the connection lost mid-commit): it reads schema_migrations
//   again and reports what the database shows, or that it cannot tell.
// Concurrent runs serialise on a transaction-scoped advisory lock; a run that waits for it says
// so every few seconds, naming who holds it (pid, application, since when).
// Stopping: SIGTERM/SIGINT (a stopped build: `docker run --init` passes them on) cancel the
// running statement in PostgreSQL at once, and the transaction rolls back. A migrator killed
// outright is noticed by the server within seconds (client_connection_check_interval, 14+),
// which then ends the statement instead of running it to its end.
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { connect, databaseUrl, describe, safeMessage } from "./client";
import { transactionControl } from "./transaction-control";

const MIGRATIONS_DIR = resolve(import.meta.dir, "../../migrations");
const LOCK_KEY = 727_465_001; // any constant shared by every migrator of this database
const APPLICATION = "daadaar-migrate"; // application_name: how pg_stat_activity shows us
const LOCK_POLL_MS = 250;
const LOCK_NOTICE_MS = 5_000; // how often a waiting migrator says who holds the lock
const GIVE_UP_AFTER_SIGNAL_MS = 10_000;

class Refused extends Error {}
class Stopped extends Error {}

type Cancellable = PromiseLike<unknown> & { cancel(): unknown };

function pending(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".sql"))
    .sort();
}

const sql = connect(APPLICATION);
let stopping = ""; // the signal that asked us to stop
let inflight: Cancellable | null = null;
let applied = 0;
let current = ""; // the file being applied
let committing = false; // its statements all ran: what fails now is the COMMIT

/** Runs one statement so that a stop can cancel it in PostgreSQL (a CancelRequest). */
async function run<T>(query: PromiseLike<T> & { cancel(): unknown }): Promise<T> {
  if (stopping) throw new Stopped(`stopped by ${stopping}`);
  inflight = query;
  try {
    return await query;
  } finally {
    inflight = null;
  }
}

function stop(signal: string): void {
  if (stopping) return;
  stopping = signal;
  const during = current ? ` during ${current}` : "";
  console.error(`migrate: ${signal}: stopping${during}; cancelling the running statement`);
  inflight?.cancel();
  setTimeout(() => {
    console.error(`migrate: not stopped ${GIVE_UP_AFTER_SIGNAL_MS / 1000}s after ${signal}; exiting`);
    process.exit(143);
  }, GIVE_UP_AFTER_SIGNAL_MS).unref();
}
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));

// biome-ignore lint/suspicious/noExplicitAny: Bun's transaction handle
type Tx = any;

/** Session guards for this transaction, then the migration lock, saying who holds it while
 * we wait. */
async function prepare(tx: Tx): Promise<void> {
  // the server checks every 2s that we are still connected while a statement runs (14+)
  await run(tx`SELECT set_config('client_connection_check_interval', '2s', true)
    WHERE current_setting('server_version_num')::int >= 140000`);
  const started = Date.now();
  let noticed = -LOCK_NOTICE_MS;
  for (;;) {
    const [got] = await run(tx`SELECT pg_try_advisory_xact_lock(${LOCK_KEY}) AS ok`);
    if (got.ok) {
      if (noticed >= 0) console.log(`migrate: got the migration lock after ${seconds(Date.now() - started)}`);
      return;
    }
    if (Date.now() - started - noticed >= LOCK_NOTICE_MS) {
      noticed = Date.now() - started;
      console.log(`migrate: waiting for the migration lock (advisory lock ${LOCK_KEY}), ${await holder(tx)}; waited ${seconds(noticed)}`);
    }
    await Bun.sleep(LOCK_POLL_MS);
  }
}

/** Who holds the migration lock, from pg_locks and pg_stat_activity. */
async function holder(tx: Tx): Promise<string> {
  const rows = await run(tx`SELECT a.pid, a.application_name AS app, a.state, host(a.client_addr) AS client,
      to_char(coalesce(a.xact_start, a.backend_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS"Z"') AS since,
      round(extract(epoch FROM clock_timestamp() - coalesce(a.xact_start, a.backend_start)))::int AS age
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = ${LOCK_KEY}
      AND l.objsubid = 1`);
  if (rows.length === 0) return "held by a session this user cannot see";
  const h = rows[0];
  // another role's session shows its pid and application only (pg_stat_activity's rule)
  const facts = [`application ${h.app || "(none)"}`];
  if (h.client) facts.push(`client ${h.client}`);
  if (h.since) facts.push(`transaction open since ${h.since} (${h.age}s ago)`);
  if (h.state) facts.push(h.state);
  return `held by pid ${h.pid} (${facts.join(", ")})`;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)}s`;
}

/** After a failed COMMIT: did it commit? true/false from the database, null if unreachable. */
async function recorded(file: string): Promise<boolean | null> {
  try {
    const rows = await sql`SELECT 1 FROM schema_migrations WHERE version = ${file}`;
    return rows.length > 0;
  } catch {
    return null;
  }
}

console.log(`migrate: database ${describe(databaseUrl())}, migrations from ${MIGRATIONS_DIR}`);
try {
  await sql.begin(async (tx) => {
    await prepare(tx);
    await run(tx`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    text PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
  });
  const files = pending(MIGRATIONS_DIR);
  for (const file of files) {
    current = file;
    const text = readFileSync(join(MIGRATIONS_DIR, file), "utf8");
    const done = await sql.begin(async (tx) => {
      await prepare(tx);
      const seen = await run(tx`SELECT 1 FROM schema_migrations WHERE version = ${file}`);
      if (seen.length > 0) return false;
      const control = transactionControl(text);
      if (control) {
        throw new Refused(
          `refused before running it: line ${control.line}: ${control.statement}: a migration ` +
            "file must not control its transaction; the migrator runs each file in one " +
            "transaction with its schema_migrations row, and a COMMIT inside would make part " +
            "of the file permanent while the rest could still fail",
        );
      }
      await run(tx.unsafe(text));
      await run(tx`INSERT INTO schema_migrations (version) VALUES (${file})`);
      committing = true;
      return true;
    });
    committing = false;
    if (done) {
      applied += 1;
      console.log(`migrate: applied ${file}`);
    }
  }
  current = "";
  console.log(`migrate: ${applied} applied, ${files.length - applied} already up to date`);
} catch (err) {
  process.exitCode = 1;
  if (!current) {
    console.error(`migrate: failed on ${describe(databaseUrl())}: ${safeMessage(err)}`);
  } else if (err instanceof Refused) {
    console.error(`migrate: migration ${current} failed: ${err.message}`);
    console.error(
      `migrate: nothing of ${current} was run; remove its BEGIN/COMMIT/ROLLBACK (each migration ` +
        "file already runs in one transaction) and release again",
    );
  } else {
    const why = stopping ? `stopped by ${stopping} (${safeMessage(err)})` : safeMessage(err);
    console.error(`migrate: migration ${current} failed: ${why}`);
    if (!committing) {
      console.error(`migrate: ${current} was rolled back (its transaction never committed); the database is as it was before it`);
    } else {
      const known = await recorded(current);
      console.error(
        known === true
          ? `migrate: ${current} was nevertheless committed and recorded in schema_migrations (the error came after the commit)`
          : known === false
            ? `migrate: ${current} was not committed (schema_migrations has no row for it); the database is as it was before it`
            : `migrate: the COMMIT of ${current} failed and the database cannot be reached to tell whether it took effect; check: SELECT version FROM schema_migrations WHERE version = '${current}'`,
      );
    }
  }
  if (stopping) process.exitCode = 143;
} finally {
  await sql.close();
}
