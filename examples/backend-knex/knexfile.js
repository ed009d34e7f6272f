// knex's configuration: PostgreSQL through node-postgres (`pg`), DATABASE_URL from the
// environment (never printed), one connection (a migration needs no more).
module.exports = {
  client: "pg",
  connection: process.env.DATABASE_URL,
  pool: { min: 0, max: 1 },
  acquireConnectionTimeout: 10000,
  migrations: { directory: "./migrations", tableName: "knex_migrations" },
  seeds: { directory: "./seeds" },
};
