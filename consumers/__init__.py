"""Stream consumers: the ClickHouse writer (and the bills writer)."""
