"""The compliance archive: every event a department's users take part in, append-only,
hash-chained, with signed checkpoints kept outside the database too."""
