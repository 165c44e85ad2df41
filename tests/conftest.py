"""Shared fixtures: the real data folder, one Ray for the whole session, and quiet threads."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

DATA = Path(os.environ.get("CURATION_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_worker_niceness", "0")  # as curation.core.executor.ensure_ray: workers not starved


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"real test data not found at {DATA} (set CURATION_DATA)")
    return DATA


@pytest.fixture(scope="session")
def warc_dir(data_dir: Path) -> Path:
    return data_dir / "warc"


@pytest.fixture(scope="session")
def ray_session():
    """A single local Ray (2 CPUs, small object store) shared by every test that needs one."""
    import ray

    if not ray.is_initialized():
        ray.init(
            num_cpus=2,
            object_store_memory=128 * 1024 * 1024,
            include_dashboard=False,
            logging_level="WARNING",
            log_to_driver=False,
            # one Ray per pytest-xdist worker, each with its own session folder
            _temp_dir=os.path.join(
                tempfile.gettempdir(), f"curation-ray-{os.environ.get('PYTEST_XDIST_WORKER', 'tests')}"
            ),
        )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 HTTP server (moto) on 127.0.0.1: ``(endpoint_url, storage_options, boto3 client)``."""
    import socket

    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    options = {"s3": {"endpoint_url": endpoint, "key": "test", "secret": "test"}}
    yield endpoint, options, client
    server.stop()
