ALTER TABLE users ADD COLUMN tenant_id integer NOT NULL;
