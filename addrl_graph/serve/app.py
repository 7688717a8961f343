"""The FastAPI application over a :class:`~addrl_graph.serve.state.ServedRun`.

Endpoints (OpenAPI schema at ``/openapi.json``, interactive at ``/docs``)::

    GET  /health                                   run, model, checkpoint, checks
    GET  /attributes                               attribute names and values, xi range
    GET  /users?q=ab&limit=20 | ?random=true       find user ids
    GET  /users/{user}                             history (training + validation items)
    GET  /users/{user}/recommendations?k=20&control=price:2,brand:0&exclude_seen=true
    GET  /users/{user}/explain/{item}              Eq. 11 terms, Eq. 8 weights, values
    POST /recommendations                          {"users": [...], "k", "control", ...}
    GET  /                                         the web page (static/, no network needed)

With an API key, every endpoint but ``/health``, the page and the schema needs the header
``X-API-Key``. An unknown user or item is a 404 ``{"detail": message}``; a parameter out of its
form or range a 422 whose ``detail[0].loc`` names it (FastAPI's own validation errors have
the same shape). The page's files (and Swagger UI's for ``/docs``, from the
``fastapi-offline`` package, so that no page needs a CDN) are read into memory when the app is
made and served by name from that table, so no request value ever reaches a file path.
"""
from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader

from addrl_graph.serve import schemas
from addrl_graph.serve.state import (MAX_K, MAX_SEARCH, XI_MAX, XI_MIN, BadParameter,
                                     ServedRun, UnknownId, parse_control)

STATIC = Path(__file__).parent / 'static'
MEDIA_TYPES = {'.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
               '.css': 'text/css; charset=utf-8', '.png': 'image/png'}
#: Swagger UI's files for ``/docs`` without a CDN (the ``fastapi-offline`` package's copy).
DOCS_FILES = ('swagger-ui-bundle.js', 'swagger-ui.css', 'favicon.png')
API_KEY_HEADER = 'X-API-Key'
ERRORS = {404: {'model': schemas.Message, 'description': 'unknown user or item'},
          422: {'description': 'a parameter out of its form or range (detail[0].loc names it)'}}
CONTROL_HELP = (f'name:xi pairs separated by commas, xi in [{XI_MIN:g}, {XI_MAX:g}], e.g. '
                'price:2,brand:0; unnamed chunks keep xi = 1')


def _docs_folder() -> Path | None:
    try:
        import fastapi_offline
    except ImportError:
        return None
    folder = Path(fastapi_offline.__file__).parent / 'static'
    return folder if all((folder / name).is_file() for name in DOCS_FILES) else None


def _static_files() -> dict[str, tuple[bytes, str]]:
    """The page's files and Swagger UI's, read once: ``{name: (content, media type)}``."""
    paths = [p for p in STATIC.iterdir() if p.suffix in MEDIA_TYPES]
    docs = _docs_folder()
    paths += [docs / name for name in DOCS_FILES] if docs is not None else []
    return {p.name: (p.read_bytes(), MEDIA_TYPES[p.suffix]) for p in paths}


def _file(entry: tuple[bytes, str]) -> Response:
    content, media_type = entry
    return Response(content=content, media_type=media_type)


def _key_check(api_key: str | None):
    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)

    def check(given: str | None = Depends(header)) -> None:
        if api_key is not None and not (
                given is not None and secrets.compare_digest(given.encode(), api_key.encode())):
            raise HTTPException(401, 'missing or wrong API key (header X-API-Key)')
    return check


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UnknownId)
    async def unknown(request: Request, e: UnknownId) -> JSONResponse:
        return JSONResponse({'detail': str(e)}, status_code=404)

    @app.exception_handler(BadParameter)
    async def bad(request: Request, e: BadParameter) -> JSONResponse:
        where = 'body' if request.method == 'POST' else 'query'
        return JSONResponse({'detail': [{'loc': [where, e.parameter], 'msg': e.message,
                                         'type': 'value_error'}]}, status_code=422)


def _api(run: ServedRun, api_key: str | None) -> APIRouter:
    api = APIRouter(dependencies=[Depends(_key_check(api_key))], responses=ERRORS)

    @api.get('/attributes', response_model=schemas.Attributes)
    def attributes():
        return run.attribute_table()

    @api.get('/users', response_model=schemas.UserList)
    def users(q: str = Query('', max_length=200, description='part of a user id'),
              limit: int = Query(20, ge=1, le=MAX_SEARCH), random: bool = False):
        return run.search_users(q, limit, random)

    @api.get('/users/{user_id}', response_model=schemas.User)
    def user(user_id: str):
        return run.user(user_id)

    @api.get('/users/{user_id}/recommendations', response_model=schemas.Recommendations)
    def recommendations(user_id: str, k: int = Query(20, ge=1, le=MAX_K),
                        control: str = Query('', max_length=2000, description=CONTROL_HELP),
                        exclude_seen: bool = True):
        return run.recommend(user_id, k, parse_control(control), exclude_seen)

    @api.get('/users/{user_id}/explain/{item_id}', response_model=schemas.Explanation)
    def explanation(user_id: str, item_id: str):
        return run.explain(user_id, item_id)

    @api.post('/recommendations', response_model=schemas.BatchResponse)
    def batch(request: schemas.BatchRequest):
        run.check_k(request.k)
        run.control_vector(request.control)
        for u in request.users:             # every id checked before any work
            run.user_index(u)
        return {'results': [run.recommend(u, request.k, request.control, request.exclude_seen)
                            for u in request.users]}

    return api


def create_app(run: ServedRun, api_key: str | None = None) -> FastAPI:
    """The application serving ``run``; ``api_key`` (if given) guards the data endpoints."""
    files = _static_files()
    offline_docs = all(name in files for name in DOCS_FILES)
    app = FastAPI(title='addrl-graph', version='1', redoc_url=None,
                  docs_url=None if offline_docs else '/docs',
                  description='Explained, controllable recommendations of a trained run '
                              f'({run.model_name}, {run.run_dir.name}).')
    _error_handlers(app)
    if offline_docs:
        @app.get('/docs', include_in_schema=False)
        def docs():
            return get_swagger_ui_html(openapi_url='/openapi.json', title='addrl-graph API',
                                       swagger_js_url='/static/swagger-ui-bundle.js',
                                       swagger_css_url='/static/swagger-ui.css',
                                       swagger_favicon_url='/static/favicon.png')

    @app.get('/health', response_model=schemas.Health)
    def health():
        return run.health()

    @app.get('/', include_in_schema=False)
    def page() -> Response:
        return _file(files['index.html'])

    @app.get('/static/{name}', include_in_schema=False)
    def static(name: str) -> Response:
        if name not in files:
            raise HTTPException(404, f'no static file {name!r}')
        return _file(files[name])

    app.include_router(_api(run, api_key))
    return app
