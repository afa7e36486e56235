"""Backups of a department: PostgreSQL with point-in-time recovery (pgBackRest, one stanza
per department cluster) and files with restic, both encrypted with passphrases sealed by the
department's HSM; restores into a fresh location, and a restore drill that proves them.
"""
