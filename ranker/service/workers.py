"""Several worker processes of the service on one port (`recadmin serve --workers N`, RECSEARCH_SERVICE_WORKERS).

uvicorn's multiprocess mode: the parent binds the port and starts N workers (``multiprocessing`` spawn), which
accept connections on the one socket (the kernel hands each new connection to one of them; a keep-alive connection
stays with its worker). Each worker builds the app itself with :func:`worker_app`, from the environment (the
settings) plus what :attr:`~ranker.service.launch.Served.environment` adds (the command line's host and port), and
warms up as a single process does. The checks that refuse a start (an open service on a public interface, a bad
setting) and the start-up lines run once, in the parent (:func:`ranker.service.serving`).

What every worker keeps of its own and how it stays right (docs/scaling.md#several-workers): the active model (a
background check every RECSEARCH_SERVICE_MODEL_CHECK_S, :meth:`ServiceDeps.watch_model`), the running experiment
(read every RECSEARCH_EXPERIMENTS_CHECK_S), the users' history states (keyed by the history read from the store on
every request, so an event posted to any worker changes them), popularity (read again every 10 minutes) and the
query-embedding cache (keyed by the embedding model).

Ctrl-C or SIGTERM to the parent stops every worker (uvicorn's supervisor ends and joins them); a worker also asks
the kernel for SIGTERM should the parent die without that (SIGKILL), so no worker outlives it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ranker.service.launch import Served

log = logging.getLogger("recsearch.service")

#: The import string uvicorn's workers build the app from.
WORKER_APP = "ranker.service.workers:worker_app"
HEALTHCHECK_S = 30  # uvicorn's default is 5 s
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def worker_app() -> FastAPI:
    """The app of one worker: the settings read from this process's environment, warmed up at start."""
    from core.settings import get_settings
    from ranker.service.app import create_app

    _end_with_parent()
    return create_app(get_settings(), warm=True)


def run_served(served: Served, *, log_level: str = "info") -> None:
    """Serve ``served`` (:func:`ranker.service.serving`'s answer) until Ctrl-C or SIGTERM: in this process, or with
    ``served.workers`` > 1 in that many worker processes that rebuild the app (:func:`worker_app`)."""
    import uvicorn

    common = {"host": served.host, "port": served.port, "log_level": log_level, "access_log": False}
    if served.workers == 1:
        uvicorn.run(served.app, **common)
        return
    # The workers are spawned: they inherit this environment, and read their settings from it.
    os.environ.update(served.environment)
    # The supervisor pings each worker every half second and replaces one that does not answer within the timeout:
    # a worker loading its models on a busy machine answers late, and must not be taken for a hung one.
    uvicorn.run(WORKER_APP, factory=True, workers=served.workers, timeout_worker_healthcheck=HEALTHCHECK_S, **common)


def _end_with_parent() -> None:
    """Have the kernel send this worker SIGTERM when the process that started it ends (Linux), so that a killed
    supervisor leaves no worker behind; a worker whose parent already died stops now."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError) as e:  # a libc without prctl: the supervisor still stops the workers
        log.warning("worker %d: cannot follow the supervisor's end: %s", os.getpid(), e)
        return
    if os.getppid() == 1:  # the supervisor ended before the request above
        os.kill(os.getpid(), signal.SIGTERM)
