"""`mlplat-serve [--host 127.0.0.1] [--port 8080]`: settings from `MLPLAT_*`, one uvicorn process (uvloop)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlplat-serve", description="Serve an MLflow model (DESIGN.md section 7).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    args = parser.parse_args(argv)

    from runtime.serving.settings import ServeSettings

    try:
        settings = ServeSettings()  # required fields come from the environment
    except ValidationError as error:
        for problem in error.errors():
            field = "_".join(str(part) for part in problem["loc"]).upper()
            print(f"mlplat-serve: MLPLAT_{field}: {problem['msg']}", file=sys.stderr)
        return 2

    import os

    # before numpy/sklearn load: every thread that runs a model gets this many OpenMP/BLAS threads
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, str(settings.model_threads))
    # MLflow's client retries for minutes by default; give up soon and serve the cached model instead
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    import uvicorn

    sys.setswitchinterval(settings.gil_switch_interval_ms / 1000)

    from runtime.serving.app import create_app
    from runtime.serving.connections import guarded_protocol

    os.umask(0o077)  # what this process writes (model cache, prediction logs) is private to the service user
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        app = create_app(settings)
        app.state.models.prepare()  # a model cache folder that others could write to is refused here
    except (OSError, ValueError) as error:  # an unreadable or too-short key, a bad residency file, the model cache
        print(f"mlplat-serve: {error}", file=sys.stderr)
        return 2
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http=guarded_protocol(
            header_timeout_s=settings.header_timeout_seconds, max_connections=settings.max_connections
        ),
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        access_log=False,
        log_level=settings.log_level.lower(),
        lifespan="on",
        backlog=2048,
        proxy_headers=False,  # no proxy-header rewriting per request: the pod sees the mesh's own address
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    return 0
