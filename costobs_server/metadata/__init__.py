"""Metadata DB (orgs, API keys; alert rules arrive with alerting) on SQLite or PostgreSQL."""
