-- The benchmark table: a CRM contacts-like row (text, jsonb, timestamptz), ~240 bytes.
-- Created identically, primary key included, on the source and on the target.
CREATE TABLE public.contacts (
  id            bigint PRIMARY KEY,
  first_name    text,
  last_name     text,
  email         text,
  phone         text,
  company       text,
  notes         text,
  custom_fields jsonb,
  created_at    timestamptz,
  updated_at    timestamptz
);
