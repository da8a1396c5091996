"""`POST /auth`: TF-A's login, answered with a token the identity issuer (qa_api) made."""
