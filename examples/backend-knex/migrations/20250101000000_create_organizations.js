exports.up = (knex) =>
  knex.schema.createTable("organizations", (t) => {
    t.increments("id");
    t.text("slug").notNullable().unique();
    t.text("name").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

exports.down = (knex) => knex.schema.dropTable("organizations");
