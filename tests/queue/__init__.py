"""The durable queue's rules, on both real stores: SQLite and PostgreSQL."""
