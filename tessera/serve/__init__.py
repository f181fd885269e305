"""`tessera serve`: an HTTP videos API with a persistent job queue, a web page, signed outputs.

api.py         routes (OpenAI's videos API shape), errors, the page; ServeConfig, create_app, serve
schema.py      request and response shapes
store.py       the job store (SQLite, WAL): queue order, claims, progress, crash recovery
supervisor.py  the server's side of the workers: start, check jobs, wake, replace the dead
worker.py      a worker process: one loaded Generator running jobs one at a time
folder.py      the data folder's layout and lock
limits.py      the cap on request bodies
static/        the page: plain HTML, CSS and JavaScript
"""
