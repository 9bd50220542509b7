"""HTTP routers of the read API: each parses its parameters, runs its queries (``readapi.sql``)
through the request context (``readapi._context``) and shapes the answer with the pure helpers
(``readapi.math``)."""
