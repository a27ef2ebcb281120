"""Business logic. Plain functions: they flush but never commit, and never touch flask.request."""
