"""Persistence: SQL metadata stores (SQLite embedded, PostgreSQL to scale out) and artifact stores."""
