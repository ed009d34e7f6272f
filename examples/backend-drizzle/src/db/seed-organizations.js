// Idempotent seed: ON CONFLICT (slug) DO NOTHING, so a second run inserts nothing.
import { connect } from "./client.js";
import { organizations } from "./schema.js";

const rows = [
  { slug: "daadaar", name: "Daadaar" },
  { slug: "acme", name: "Acme" },
  { slug: "globex", name: "Globex" },
];
const { pool, db } = connect();
try {
  const inserted = await db
    .insert(organizations)
    .values(rows)
    .onConflictDoNothing({ target: organizations.slug })
    .returning({ slug: organizations.slug });
  const already = rows.length - inserted.length;
  console.log(`seed organizations: ${inserted.length} inserted, ${already} already present`);
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await pool.end();
}
