"""Run the background-job worker (core.jobs): ``manage.py run_worker [--once]``."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections, connection

from dualchannel.core import jobs

logger = logging.getLogger("dualchannel.jobs")


class Command(BaseCommand):
    help = "执行数据库中的后台任务（通知投递、定时任务）；SIGTERM/SIGINT 时处理完当前任务后退出。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="处理一轮到期任务后退出")
        parser.add_argument("--sleep", type=float, default=2.0, help="无任务时的等待秒数")
        parser.add_argument("--max-jobs", type=int, default=0, help="处理这么多任务后退出")
        parser.add_argument("--batch", type=int, default=10, help="每轮最多领取的任务数")

    def handle(self, *args, once: bool, sleep: float, max_jobs: int, batch: int, **options):
        stop = threading.Event()
        worker_id = f"{socket.gethostname()}:{os.getpid()}"

        def request_stop(signum, frame):
            # The job in hand finishes (its transaction commits or rolls back), then we leave.
            stop.set()

        previous = {
            sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        logger.info("worker %s started", worker_id)
        processed = 0
        try:
            while not stop.is_set():
                _drop_stale_connection()
                limit = batch if not max_jobs else min(batch, max_jobs - processed)
                ran = jobs.run_once(worker_id, limit)
                processed += ran
                if once or (max_jobs and processed >= max_jobs):
                    break
                if ran == 0:
                    stop.wait(sleep)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            _drop_stale_connection()
        logger.info("worker %s stopped after %s jobs", worker_id, processed)
        self.stdout.write(f"processed {processed} jobs")


def _drop_stale_connection() -> None:
    """Like a request boundary: reconnect after errors or CONN_MAX_AGE (not inside a caller's
    transaction, as when a test runs the command)."""
    if not connection.in_atomic_block:
        close_old_connections()
