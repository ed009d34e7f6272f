// Seeds the organizations every environment needs. Idempotent: rows are keyed by slug and
// inserted with ON CONFLICT DO NOTHING, so running it again inserts nothing.
import { connect, databaseUrl, describe, safeMessage } from "./client";

export const ORGANIZATIONS: ReadonlyArray<{ slug: string; name: string }> = [
  { slug: "daadaar", name: "Daadaar" },
  { slug: "acme", name: "Acme Corporation" },
  { slug: "globex", name: "Globex" },
];

const sql = connect();
console.log(`seed organizations: database ${describe(databaseUrl())}`);
try {
  let inserted = 0;
  await sql.begin(async (tx) => {
    for (const org of ORGANIZATIONS) {
      const rows = await tx`INSERT INTO organizations (slug, name)
        VALUES (${org.slug}, ${org.name})
        ON CONFLICT (slug) DO NOTHING
        RETURNING id`;
      inserted += rows.length;
    }
  });
  console.log(
    `seed organizations: ${inserted} inserted, ${ORGANIZATIONS.length - inserted} already present`,
  );
} catch (err) {
  console.error(`seed organizations: failed: ${safeMessage(err)}`);
  process.exitCode = 1;
} finally {
  await sql.close();
}
