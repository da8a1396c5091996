"""TF-A's metric kinds: `POST /` as TF-A's data generators send it, `GET /schemas/{kind}`."""
