// The migration status as ONE line of the release suite's protocol (docs/plan.md "Migration status
// protocol"), for `status_command: ["bun", "src/db/status.ts"]`:
//   MIGRATION-STATUS/1 {"tool":"daadaar-bun","applied":[{"name":..,"at":..}],"pending":[..],"missing":[..]}
// applied: the rows of schema_migrations (what migrate.ts records), oldest first; pending: the
// migrations/*.sql files without a row, in the order migrate.ts runs them; missing: rows whose
// file is no longer in the image. Reads only; exit 1 with one line when the database cannot.
import { readdirSync } from "node:fs";
import { resolve } from "node:path";
import { connect, safeMessage } from "./client";

const MIGRATIONS_DIR = resolve(import.meta.dir, "../../migrations");
const sql = connect("daadaar-status");

try {
  const files = readdirSync(MIGRATIONS_DIR)
    .filter((name) => name.endsWith(".sql"))
    .sort();
  const [{ found }] = await sql`SELECT to_regclass('schema_migrations') IS NOT NULL AS found`;
  const rows: { version: string; at: string }[] = found
    ? await sql`SELECT version, to_char(applied_at AT TIME ZONE 'UTC',
        'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at FROM schema_migrations ORDER BY applied_at, version`
    : [];
  const done = new Set(rows.map((row) => row.version));
  const status = {
    tool: "daadaar-bun",
    applied: rows.map((row) => ({ name: row.version, at: row.at })),
    pending: files.filter((file) => !done.has(file)),
    missing: rows.map((row) => row.version).filter((name) => !files.includes(name)),
  };
  console.log(`MIGRATION-STATUS/1 ${JSON.stringify(status)}`);
} catch (err) {
  console.error(`status: ${safeMessage(err)}`);
  process.exitCode = 1;
} finally {
  await sql.close();
}
