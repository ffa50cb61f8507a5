-- Users as the auth provider knows them (id = the JWT's `sub`). The auth
-- provider's sync keeps this table filled; tokens use `display_name` as the
-- LiveKit participant name and fall back to the id when there is no row.
CREATE TABLE users (
    id           uuid PRIMARY KEY,
    display_name text NOT NULL DEFAULT '' CHECK (length(display_name) <= 100),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
