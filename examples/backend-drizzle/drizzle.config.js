// drizzle-kit (dev only): `npm run generate` writes drizzle/NNNN_*.sql and drizzle/meta/ from
// src/db/schema.js. The image never runs drizzle-kit: src/db/migrate.js applies drizzle/ with
// drizzle-orm's node-postgres migrator.
export default {
  dialect: "postgresql",
  schema: "./src/db/schema.js",
  out: "./drizzle",
};
