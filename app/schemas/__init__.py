"""marshmallow schemas: request validation (load) and response shaping (dump), one module per area."""
