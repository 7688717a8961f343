"""Serve a trained run over HTTP: explained, controllable recommendations and a web page.

:mod:`~addrl_graph.serve.state` loads a run once (checkpoint checksums verified, ranking tables
computed) and answers questions about users and items; :mod:`~addrl_graph.serve.app` is the
FastAPI application over it (JSON endpoints, OpenAPI schema at ``/docs``, the page at ``/``
from ``static/``); :mod:`~addrl_graph.serve.server` runs it with uvicorn, refusing a host that
is not loopback without an API key. FastAPI and uvicorn come with the ``serve`` extra.
"""
