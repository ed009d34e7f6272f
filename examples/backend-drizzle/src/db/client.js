// One pooled connection from DATABASE_URL (set by the environment; never printed).
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import * as schema from "./schema.js";

export function connect() {
  const pool = new pg.Pool({
    connectionString: process.env.DATABASE_URL,
    max: 1,
    connectionTimeoutMillis: 10_000,
  });
  return { pool, db: drizzle(pool, { schema }) };
}
