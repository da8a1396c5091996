"""The floor of the broker's web stack, for `bench/metrics_broker.py`: a FastAPI route that reads the body
and answers 204, with nothing else (no middleware, no token, no validation, no InfluxDB), under the same
uvicorn. What it answers per second bounds what any FastAPI route can on this machine."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/", status_code=204)
async def empty(request: Request) -> Response:
    await request.body()
    return Response(status_code=204)
