// Applies migrations/*.sql in file-name order. Each file runs in its own transaction together
// with its row in schema_migrations, so a file is either fully applied and recorded or not at
// all; a second run applies nothing. On failure it names the file, rolls that file back and
// exits 1 (files applied before it in the same run stay applied and recorded).
// Concurrent runs serialise on a transaction-scoped advisory lock.
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { connect, databaseUrl, describe, safeMessage } from "./client";

const MIGRATIONS_DIR = resolve(import.meta.dir, "../../migrations");
const LOCK_KEY = 727_465_001; // any constant shared by every migrator of this database

function pending(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".sql"))
    .sort();
}

const sql = connect();
console.log(`migrate: database ${describe(databaseUrl())}, migrations from ${MIGRATIONS_DIR}`);
let applied = 0;
let current = "";
try {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${LOCK_KEY})`;
    await tx`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    text PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`;
  });
  const files = pending(MIGRATIONS_DIR);
  for (const file of files) {
    current = file;
    const text = readFileSync(join(MIGRATIONS_DIR, file), "utf8");
    const done = await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${LOCK_KEY})`;
      const seen = await tx`SELECT 1 FROM schema_migrations WHERE version = ${file}`;
      if (seen.length > 0) return false;
      await tx.unsafe(text);
      await tx`INSERT INTO schema_migrations (version) VALUES (${file})`;
      return true;
    });
    if (done) {
      applied += 1;
      console.log(`migrate: applied ${file}`);
    }
  }
  current = "";
  console.log(`migrate: ${applied} applied, ${files.length - applied} already up to date`);
} catch (err) {
  const where = current ? `migration ${current} failed` : `failed on ${describe(databaseUrl())}`;
  console.error(`migrate: ${where}: ${safeMessage(err)}`);
  if (current) console.error(`migrate: ${current} was rolled back; the database is as it was before it`);
  process.exitCode = 1;
} finally {
  await sql.close();
}
