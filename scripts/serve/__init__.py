"""Serve a pipeline over HTTP: `python -m scripts.serve MODEL` (or `spacy project run serve`).

POST /ents with {"text": "..."} answers {"ents": [{"start", "end", "label", "text"}]}, what `annotate`
writes for a line (offsets in characters of the text); {"texts": [...]} answers a list of those, in
order; "sentences": true adds "sents". GET /health says whether the model is ready, GET /metrics gives
Prometheus' metrics, /docs the OpenAPI page.

Concurrent requests are micro-batched (batcher.py): one thread runs the model over the texts of every
request that arrived within max_wait_ms, in one nlp.pipe, so answers equal nlp(text)'s, the model never
runs from two threads at once, and a CPU serves several times the texts of a per-request endpoint.
--engine ray runs the same app on Ray Serve replicas (ray_engine.py). load_test.py is the load test.
"""
