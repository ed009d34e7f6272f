// Idempotent seed: ON CONFLICT (slug) DO NOTHING, so a second run inserts nothing.
exports.seed = async (knex) => {
  const rows = [
    { slug: "daadaar", name: "Daadaar" },
    { slug: "acme", name: "Acme" },
    { slug: "globex", name: "Globex" },
  ];
  const inserted = await knex("organizations")
    .insert(rows)
    .onConflict("slug")
    .ignore()
    .returning("slug");
  const already = rows.length - inserted.length;
  console.log(`seed organizations: ${inserted.length} inserted, ${already} already present`);
};
