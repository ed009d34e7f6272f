// A tiny HTTP service: GET /health checks the database, GET /organizations lists them.
import { connect, safeMessage } from "./db/client";

const sql = connect();
const port = Number(process.env.PORT ?? 3000);

const server = Bun.serve({
  port,
  async fetch(req) {
    const { pathname } = new URL(req.url);
    try {
      if (pathname === "/health") {
        await sql`SELECT 1`;
        return Response.json({ ok: true });
      }
      if (pathname === "/organizations") {
        const rows = await sql`SELECT slug, name FROM organizations ORDER BY slug`;
        return Response.json(rows);
      }
      return new Response("not found\n", { status: 404 });
    } catch (err) {
      return Response.json({ ok: false, error: safeMessage(err) }, { status: 503 });
    }
  },
});
console.log(`listening on :${server.port}`);
