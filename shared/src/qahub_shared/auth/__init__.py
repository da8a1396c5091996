"""Identity for every QA Hub service: tokens issued by qa_api, verified locally everywhere.

principal     Principal, Scope, Audience; scope implications; project patterns
keys          ES256 signing keys, kid thumbprints, the JWK Set
tokens        TokenIssuer (qa_api), TokenVerifier (every service): the only use of `jose`
revocations   RevocationList: revoked token ids, refreshed in the background
remote        the JWK Set and revocations fetched from qa_api (the other services)
dependencies  FastAPI: `Caller` / `MaybeCaller` from the `Authorization` header
"""
