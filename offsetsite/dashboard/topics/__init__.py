"""Topic pages: partitions as seat strips, records, produce, search, settings."""
