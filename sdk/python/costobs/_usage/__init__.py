"""Pure usage extraction: provider response shapes → normalised wire usage. No I/O here."""
