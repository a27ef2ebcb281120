"""Security primitives: password hashing, tokens, CSRF and response headers."""
