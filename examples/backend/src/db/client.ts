// One place that opens the database: DATABASE_URL from the environment (never printed).
import { SQL } from "bun";

export function databaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error("error: DATABASE_URL is not set (pass it by name: docker run -e DATABASE_URL ...)");
    process.exit(2);
  }
  return url;
}

/** host:port/database of the URL, safe to print (no user, no password). */
export function describe(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || "5432"}${u.pathname}`;
  } catch {
    return "(unparsable DATABASE_URL)";
  }
}

/** One connection; `application` becomes its application_name, so pg_stat_activity (and a
 * migrator waiting on the lock) can tell who holds a session. */
export function connect(application = "daadaar-backend"): SQL {
  return new SQL(databaseUrl(), {
    max: 1,
    idleTimeout: 5,
    connectionTimeout: 10,
    connection: { application_name: application },
  });
}

/** An error's message (and code) with anything URL-like stripped of credentials. */
export function safeMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown })?.code;
  const withCode = typeof code === "string" && !text.includes(code) ? `${text} (${code})` : text;
  return withCode.replace(/(\w+:\/\/[^:/@\s]*:)[^@\s]+@/g, "$1***@");
}
