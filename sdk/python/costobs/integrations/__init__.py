"""Provider adapters: each patches one seam of one provider package (imported lazily)."""
