// The migration status as ONE line of the release suite's protocol (docs/plan.md "Migration status
// protocol"), for `status_command: ["node", "src/db/status.js"]`:
//   MIGRATION-STATUS/1 {"tool":"drizzle","applied":[..],"pending":[..],"missing":[..],"changed":[..]}
// It reads what drizzle-orm's migrator reads: drizzle/meta/_journal.json (each entry's tag and
// `when`) and drizzle.__drizzle_migrations (hash = sha256 of the .sql file, created_at = the
// entry's `when`). As the migrator decides, an entry is applied when its `when` is at most the
// newest created_at; `changed`: applied with another hash; `missing`: rows no entry matches.
// drizzle records no apply time, so `at` is left out. Reads only.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import pg from "pg";

const FOLDER = "./drizzle";
const journal = JSON.parse(readFileSync(`${FOLDER}/meta/_journal.json`, "utf8"));
const client = new pg.Client({
  connectionString: process.env.DATABASE_URL,
  connectionTimeoutMillis: 10_000,
  application_name: "drizzle-status",
});

try {
  await client.connect();
  const table = await client.query(
    "SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS found",
  );
  const rows = table.rows[0].found
    ? (await client.query("SELECT hash, created_at FROM drizzle.__drizzle_migrations ORDER BY created_at")).rows
    : [];
  const newest = rows.length ? Number(rows[rows.length - 1].created_at) : -1;
  const recorded = new Map(rows.map((row) => [Number(row.created_at), row.hash]));
  const entries = journal.entries.map((entry) => ({
    name: `${entry.tag}.sql`,
    when: entry.when,
    hash: createHash("sha256").update(readFileSync(`${FOLDER}/${entry.tag}.sql`).toString()).digest("hex"),
  }));
  const known = new Set(entries.map((entry) => entry.when));
  const done = entries.filter((entry) => entry.when <= newest);
  const status = {
    tool: "drizzle",
    applied: done.map((entry) => ({ name: entry.name, checksum: entry.hash })),
    pending: entries.filter((entry) => entry.when > newest).map((entry) => entry.name),
    missing: rows.filter((row) => !known.has(Number(row.created_at))).map((row) => `created_at ${row.created_at}`),
    changed: done.filter((e) => recorded.has(e.when) && recorded.get(e.when) !== e.hash).map((e) => e.name),
  };
  console.log(`MIGRATION-STATUS/1 ${JSON.stringify(status)}`);
} catch (err) {
  console.error(`status: ${String(err?.message ?? err).replace(/(\w+:\/\/[^:/@\s]*:)[^@\s]+@/g, "$1***@")}`);
  process.exitCode = 1;
} finally {
  await client.end().catch(() => {});
}
