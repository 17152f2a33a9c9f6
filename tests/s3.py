"""An S3-compatible server on loopback for the tests: moto's server mode, a subprocess of its own.

moto speaks S3 over HTTP (multipart uploads, ranged GETs, listings) and checks no signature, so any
credentials do. ``Bucket.env`` is what a server needs to keep its blobs there, set the way teams set
it (``ASSISTANTD_BLOB_URL`` plus the ``AWS_*`` variables). ``blob_ids``/``blob_bytes`` read a server's
blobs wherever they are, so a test asserts the same on local disk and in a bucket.
"""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from tests.server import LiveServer, free_port

REGION = "us-east-1"


class MotoS3:
    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoS3:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("moto's S3 server did not start")

    def bucket(self, prefix: str | None = None, create: bool = True) -> Bucket:
        """A new bucket (names are per test, so tests sharing the server never see each other's blobs)."""
        bucket = Bucket(self.endpoint, "assistantd-" + secrets.token_hex(6), prefix or "blobs")
        if create:
            self.create(bucket)
        return bucket

    def create(self, bucket: Bucket) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/{bucket.name}", method="PUT")).read()

    def pause(self) -> None:
        """A black hole: connections open, nothing answers (SIGSTOP)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(timeout=10)


@dataclass
class Bucket:
    endpoint: str
    name: str
    prefix: str

    def env(self) -> dict[str, str]:
        return {
            "ASSISTANTD_BLOB_URL": f"s3://{self.name}/{self.prefix}",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": REGION,
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t"
        )

    def key(self, blob_id: str) -> str:
        return f"{self.prefix}/files/{blob_id}"

    def ids(self) -> set[str]:
        found = self.client().list_objects_v2(Bucket=self.name, Prefix=f"{self.prefix}/files/")
        return {item["Key"].rsplit("/", 1)[1] for item in found.get("Contents", [])}

    def get(self, blob_id: str) -> bytes:
        return bytes(self.client().get_object(Bucket=self.name, Key=self.key(blob_id))["Body"].read())

    def put(self, blob_id: str, data: bytes) -> None:
        self.client().put_object(Bucket=self.name, Key=self.key(blob_id), Body=data)

    def open_uploads(self) -> int:
        """Multipart uploads begun and neither completed nor aborted."""
        return len(self.client().list_multipart_uploads(Bucket=self.name).get("Uploads", []))


def bucket_of(server: LiveServer) -> Bucket | None:
    url = server.env.get("ASSISTANTD_BLOB_URL")
    if not url:
        return None
    name, _, prefix = url.removeprefix("s3://").partition("/")
    return Bucket(server.env["AWS_ENDPOINT_URL"], name, prefix)


def blob_ids(server: LiveServer) -> set[str]:
    """The server's blobs: in its bucket, or its data dir's ``files`` folder (partial ones included)."""
    bucket = bucket_of(server)
    if bucket is not None:
        return bucket.ids()
    folder = server.data_dir / "files"
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


def blob_bytes(server: LiveServer, blob_id: str) -> bytes:
    bucket = bucket_of(server)
    return bucket.get(blob_id) if bucket is not None else (server.data_dir / "files" / blob_id).read_bytes()
