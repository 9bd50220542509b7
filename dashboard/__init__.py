"""The Streamlit dashboard. It never touches a database: every figure comes from the read API
(``readapi``) with the session's org credential. ``app.py`` is the entry point; each page is a
``pages_*.py`` module with a ``render(ctx)`` function."""
