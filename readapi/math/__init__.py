"""Pure helpers of the read API: numbers and dates in, numbers and dates out (no I/O, no SQL).
Each module is tested without a server."""
