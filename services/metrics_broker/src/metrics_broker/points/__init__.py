"""`POST /api/v1/points`: large batches of points of a registered kind, with `Idempotency-Key`."""
