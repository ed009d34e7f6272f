exports.up = (knex) =>
  knex.schema.createTable("members", (t) => {
    t.increments("id");
    t.integer("organization_id").notNullable().references("organizations.id").onDelete("CASCADE");
    t.text("email").notNullable();
    t.unique(["organization_id", "email"]);
  });

exports.down = (knex) => knex.schema.dropTable("members");
