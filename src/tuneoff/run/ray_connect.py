"""Joining Ray before anything is written: the address answers in seconds, the cluster can hold one job,
the runtime environment file reads, and workers run the driver's library versions.

Every refusal is a ``RayConnectError`` (a ValueError: one line, exit 2) naming the address or file, the
cause and the fix. Ray is imported by the caller and passed in, so each check runs on a stub too.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

CONNECT_SECONDS = 5.0  # how long the head's port may take to accept a connection
CHECKED_LIBRARIES = ("tuneoff", "torch", "transformers", "peft")  # a worker trains only with the driver's versions
AUTH_HINT = (
    "set RAY_AUTH_MODE=token and the cluster's token in RAY_AUTH_TOKEN (or a file named by "
    "RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token), as on its nodes"
)


class RayConnectError(ValueError):
    """Ray cannot be used as asked; the message is the one line the command prints."""


def host_port(address: str) -> tuple[str, int]:
    """HOST:PORT (or ray://HOST:PORT, [IPv6]:PORT) split; anything else is refused."""
    bare = address.split("://", 1)[-1]
    host, _, port = bare.rpartition(":")
    if not host or not port.isdigit():
        raise RayConnectError(
            f"--ray-address {address}: expected 'local', 'auto' or HOST:PORT (the head's address, e.g. 10.0.0.1:6379)"
        )
    return host.strip("[]"), int(port)


def resolve(address: str) -> str | None:
    """The concrete address 'auto' stands for (RAY_ADDRESS, else the last `ray start` here); None: unknown."""
    if address != "auto":
        return address
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"]
    try:
        from ray._private.utils import (
            read_ray_address,  # Ray's record of the last `ray start` on this machine
        )

        return read_ray_address() or None
    except Exception:  # noqa: BLE001 - another Ray version: Ray's own lookup (and error) then applies
        return None


def probe(address: str, timeout: float = CONNECT_SECONDS) -> None:
    """Refuse an address whose port does not accept a connection within ``timeout`` seconds, or accepts one but
    does not answer as a Ray head does, in gRPC, within ``timeout`` seconds more (ray.init would wait for either
    for minutes, or forever)."""
    concrete = resolve(address)
    if concrete is None or concrete == "local":
        return
    host, port = host_port(concrete)
    named = address if concrete == address else f"{address} ({concrete})"
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        why = "no answer" if isinstance(err, TimeoutError) else (err.strerror or type(err).__name__)
        raise RayConnectError(
            f"--ray-address {named}: cannot reach {host}:{port} within {timeout:g} s ({why}); "
            "start the head there (`ray start --head` prints its address) or check that this "
            "machine can reach it, or use --ray-address local for a private instance here"
        ) from None
    if not speaks_grpc(host, port, timeout):
        raise RayConnectError(
            f"--ray-address {named}: {host}:{port} accepts connections but does not answer as a "
            f"Ray head (no gRPC handshake within {timeout:g} s); is it the head's port (`ray start "
            "--head` prints its address, 6379 by default)? or use --ray-address local for a "
            "private instance here"
        )


def speaks_grpc(host: str, port: int, timeout: float) -> bool:
    """Whether the server at host:port completes a gRPC (HTTP/2) handshake within ``timeout`` seconds, as a Ray
    head's GCS and a Ray client server do. True when it cannot be told here: grpc is not installed, or the
    cluster uses TLS (RAY_USE_TLS), which a plain handshake cannot complete."""
    try:
        import grpc
    except ImportError:
        return True
    if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
        return True
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    channel = grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)])  # direct, as Ray connects
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
        return True
    except grpc.FutureTimeoutError:
        return False
    finally:
        channel.close()


def init(ray, address: str, options: dict, timeout: float = CONNECT_SECONDS) -> None:
    """ray.init: 'local' always starts a private instance (whatever RAY_ADDRESS says or runs here);
    any other address must answer first. Ray's connection and token errors become one line."""
    if address != "local":
        probe(address, timeout)
    try:
        ray.init(address=address, **options)
    except ray.exceptions.AuthenticationError as err:
        raise RayConnectError(
            f"--ray-address {address}: the cluster refused this driver ({_first(err.message)}); {AUTH_HINT}"
        ) from None
    except ConnectionError as err:
        raise RayConnectError(
            f"--ray-address {address}: {_first(err)}; start a cluster (`ray start --head`), "
            "give its HOST:PORT, or use --ray-address local for a private instance here"
        ) from None


def _first(err) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0].rstrip(".")


def missing_resources(nodes: list[dict], cpus: float, gpus: float) -> str | None:
    """Why no live node could ever run one job asking for ``cpus`` and ``gpus`` (None: one can).
    ``nodes``: each live node's resources, as in ``ray.nodes()[i]["Resources"]``."""
    if any(n.get("CPU", 0) >= cpus and n.get("GPU", 0) >= gpus for n in nodes):
        return None
    have = "; ".join(f"{n.get('CPU', 0):g} CPUs, {n.get('GPU', 0):g} GPUs" for n in nodes) or "no live node"
    short = [
        f"--{kind}-per-job {want:g}"
        for kind, want, key in (("cpus", cpus, "CPU"), ("gpus", gpus, "GPU"))
        if want > max((n.get(key, 0) for n in nodes), default=0)
    ]
    need = " and ".join(short) if short else f"--cpus-per-job {cpus:g} with --gpus-per-job {gpus:g} on one node"
    return (
        f"no node of the Ray cluster can ever run a job asking for {need} (its nodes: {have}); ask for less, "
        "or add a node that has it"
    )


def check_resources(ray, cpus: float, gpus: float) -> None:
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive", True)]
    if why := missing_resources(nodes, cpus, gpus):
        raise RayConnectError(why)


def load_runtime_env(path: str | Path) -> dict:
    """--ray-runtime-env FILE: a JSON object, Ray's runtime_env (pip, env_vars, working_dir, ...)."""
    path = Path(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RayConnectError(f"--ray-runtime-env {path}: no such file") from None
    except json.JSONDecodeError as err:
        raise RayConnectError(
            f"--ray-runtime-env {path}: not JSON (line {err.lineno}: {err.msg}); "
            "write Ray's runtime_env as a JSON object"
        ) from None
    if not isinstance(value, dict):
        raise RayConnectError(
            f"--ray-runtime-env {path}: expected a JSON object such as "
            '{"pip": [...], "env_vars": {...}}, got ' + type(value).__name__
        )
    return value


def library_versions() -> dict[str, str | None]:
    """The installed versions of what a job's numbers depend on (None: not installed), read from package metadata."""
    from tuneoff.training.system import installed_version

    return {name: installed_version(name) for name in CHECKED_LIBRARIES}


def version_mismatch(expected: dict, actual: dict) -> str | None:
    """Which libraries differ from the driver's, in one phrase (None: all the same)."""
    wrong = [
        f"{name} {actual.get(name)} (the driver has {want})"
        for name, want in expected.items()
        if actual.get(name) != want
    ]
    return ", ".join(wrong) or None
