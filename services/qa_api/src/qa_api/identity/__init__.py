"""Users, their password logins and their API tokens: QA Hub's one token issuer."""
