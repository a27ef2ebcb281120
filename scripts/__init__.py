"""Operator scripts (init_db, seed_data); run as modules or as files."""
