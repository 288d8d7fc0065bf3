"""Joining Ray (issue 20): 'local' is always a private instance, an address that does not answer or a token the
cluster refuses is one line in seconds, a job no node can hold is refused up front, a worker with other library
versions trains nothing, and none of it touches the output folder. Ray itself is never started here: a stub
module stands in for it where ray.init would be reached."""

from __future__ import annotations

import json
import socket
import sys
import threading
from types import SimpleNamespace

import pytest

from tuneoff.cli import main
from tuneoff.run import ray_connect, ray_executor
from tuneoff.run.ray_connect import RayConnectError


class StubAuthenticationError(Exception):
    def __init__(self, message):
        self.message = message
        super().__init__(message)


class StubRay:
    """The parts of the ray module that joining uses; records each ray.init call."""

    def __init__(self, nodes=({"CPU": 2.0},), init_error=None):
        self.calls, self._nodes, self.init_error = [], list(nodes), init_error
        self.exceptions = SimpleNamespace(AuthenticationError=StubAuthenticationError)

    def is_initialized(self):
        return False

    def init(self, **kwargs):
        self.calls.append(kwargs)
        if self.init_error:
            raise self.init_error

    def nodes(self):
        return [{"Alive": True, "Resources": n} for n in self._nodes]


@pytest.fixture
def stub_ray(monkeypatch):
    def install(**kwargs) -> StubRay:
        stub = StubRay(**kwargs)
        monkeypatch.setitem(sys.modules, "ray", stub)
        return stub

    return install


@pytest.fixture
def head():
    """A gRPC server on localhost (no services), standing in for a cluster's head: it completes the handshake
    a Ray head's GCS does."""
    from concurrent.futures import ThreadPoolExecutor

    grpc = pytest.importorskip("grpc")
    server = grpc.server(ThreadPoolExecutor(1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


@pytest.fixture
def silent():
    """A port on localhost whose server accepts every connection and never says a word (not a Ray head)."""
    done, accepted = threading.Event(), []
    with socket.create_server(("127.0.0.1", 0)) as server:

        def serve():
            while not done.is_set():
                try:
                    accepted.append(server.accept()[0])
                except OSError:
                    return

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        yield f"127.0.0.1:{server.getsockname()[1]}", accepted
        done.set()
        try:
            server.shutdown(socket.SHUT_RDWR)  # wakes the accept() the thread waits in
        except OSError:
            pass
    for connection in accepted:
        connection.close()
    thread.join(10)


def run_cli(config, tree_dir, out, *flags) -> int:
    return main(
        ["run", str(config), "--data-dir", str(tree_dir), "--no-report", "--out", str(out), "--executor", "ray", *flags]
    )


def error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_local_starts_a_private_instance_whatever_RAY_ADDRESS_says(
    stub_ray, monkeypatch, tiny_config, tree_dir, tmp_path
):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")  # another cluster, and one that does not answer
    ray = stub_ray(nodes=[{"CPU": 0.0}])  # stop right after joining: no node can hold a job
    assert run_cli(tiny_config, tree_dir, tmp_path / "run", "--ray-address", "local") == 2
    [call] = ray.calls
    assert call["address"] == "local"  # Ray's word for a new instance here; None would follow RAY_ADDRESS
    assert call["log_to_driver"] is True  # worker warnings reach this console, each line named by its task


def test_an_unreachable_address_fails_in_seconds_and_leaves_the_folder_as_it_was(
    tiny_config, tree_dir, tmp_path, capsys
):
    pytest.importorskip("ray")  # the real module: its ray.init would wait for minutes
    out = tmp_path / "run"
    assert run_cli(tiny_config, tree_dir, out, "--ray-address", "127.0.0.1:1") == 2
    [line] = error_lines(capsys)[-1:]
    assert line.startswith("error: --ray-address 127.0.0.1:1: cannot reach 127.0.0.1:1 within")
    assert "ray start --head" in line and "--ray-address local" in line
    assert not out.exists()  # no tournament.json, no lock


def test_a_port_that_accepts_but_never_answers_is_refused_in_bounded_time(
    stub_ray, silent, tiny_config, tree_dir, tmp_path, capsys
):
    """issue 28: a TCP port that accepts but is not Ray passed the connect probe, and ray.init then waited forever."""
    address, accepted = silent
    ray = stub_ray()  # were ray.init reached, it would return at once: the refusal is the probe's
    out = tmp_path / "run"
    assert run_cli(tiny_config, tree_dir, out, "--ray-address", address) == 2
    [line] = error_lines(capsys)[-1:]
    assert line.startswith(
        f"error: --ray-address {address}: {address} accepts connections but does not answer as a "
        f"Ray head (no gRPC handshake within {ray_connect.CONNECT_SECONDS:g} s)"
    ), line
    assert accepted and ray.calls == []  # it was reached, and ray.init never called
    assert not out.exists()


def test_the_handshake_wait_is_the_timeout_given(silent):
    address, _ = silent
    with pytest.raises(RayConnectError, match=r"does not answer as a Ray head \(no gRPC handshake within 0\.2 s\)"):
        ray_connect.probe(address, timeout=0.2)


def test_a_grpc_server_passes_the_probe(head):
    ray_connect.probe(head, timeout=30)  # returns at the handshake; the timeout is only a safety net


def test_auto_names_the_address_it_stands_for(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    with pytest.raises(RayConnectError, match=r"^--ray-address auto \(127\.0\.0\.1:1\): cannot reach"):
        ray_connect.probe("auto", timeout=1)


@pytest.mark.parametrize("address", ["127.0.0.1", "host:port", ":6379"])
def test_an_address_that_is_not_host_port_is_refused(address):
    with pytest.raises(RayConnectError, match="expected 'local', 'auto' or HOST:PORT"):
        ray_connect.probe(address)


def test_a_refused_token_names_the_auth_settings(stub_ray, head, tiny_config, tree_dir, tmp_path, capsys):
    stub_ray(init_error=StubAuthenticationError("Authentication failed: token mismatch.\nmore text"))
    out = tmp_path / "run"
    assert run_cli(tiny_config, tree_dir, out, "--ray-address", head) == 2
    [line] = error_lines(capsys)[-1:]
    assert line.startswith(
        f"error: --ray-address {head}: the cluster refused this driver (Authentication failed: "
        "token mismatch); set RAY_AUTH_MODE=token and the cluster's token in RAY_AUTH_TOKEN"
    )
    assert not out.exists()


def test_a_job_no_node_can_hold_is_refused_up_front(stub_ray, tiny_config, tree_dir, tmp_path, capsys):
    stub_ray(nodes=[{"CPU": 2.0}, {"CPU": 4.0}])
    out = tmp_path / "run"
    assert run_cli(tiny_config, tree_dir, out, "--gpus-per-job", "1") == 2
    [line] = error_lines(capsys)[-1:]
    assert line == (
        "error: no node of the Ray cluster can ever run a job asking for --gpus-per-job 1 (its nodes: "
        "2 CPUs, 0 GPUs; 4 CPUs, 0 GPUs); ask for less, or add a node that has it"
    )
    assert not out.exists()


def test_what_one_node_must_hold_at_once():
    nodes = [{"CPU": 8.0}, {"CPU": 1.0, "GPU": 1.0}]
    assert ray_connect.missing_resources(nodes, 1, 1) is None
    assert ray_connect.missing_resources(nodes, 4, 0.25) is not None  # the CPUs and the GPU are on different nodes
    assert "--cpus-per-job 4 with --gpus-per-job 0.25 on one node" in ray_connect.missing_resources(nodes, 4, 0.25)
    assert "--cpus-per-job 16 and --gpus-per-job 2" in ray_connect.missing_resources(nodes, 16, 2)
    assert "no live node" in ray_connect.missing_resources([], 1, 0)


def test_the_runtime_env_file_goes_to_ray_init(stub_ray, tiny_config, tree_dir, tmp_path):
    env = {"env_vars": {"HF_HUB_OFFLINE": "1"}, "pip": ["peft"]}
    (tmp_path / "env.json").write_text(json.dumps(env))
    ray = stub_ray(nodes=[{"CPU": 0.0}])
    assert run_cli(tiny_config, tree_dir, tmp_path / "run", "--ray-runtime-env", str(tmp_path / "env.json")) == 2
    assert ray.calls[0]["runtime_env"] == env


@pytest.mark.parametrize(
    ("content", "why"), [(None, "no such file"), ("{nope", "not JSON (line 1: "), ("[1, 2]", "expected a JSON object")]
)
def test_a_bad_runtime_env_file_is_named(stub_ray, tiny_config, tree_dir, tmp_path, capsys, content, why):
    path = tmp_path / "env.json"
    if content is not None:
        path.write_text(content)
    ray = stub_ray()
    out = tmp_path / "run"
    assert run_cli(tiny_config, tree_dir, out, "--ray-runtime-env", str(path)) == 2
    [line] = error_lines(capsys)[-1:]
    assert line.startswith(f"error: --ray-runtime-env {path}: {why}")
    assert not ray.calls and not out.exists()


def test_a_runtime_env_ray_refuses_names_the_file(stub_ray, tiny_config, tree_dir, tmp_path, capsys):
    (tmp_path / "env.json").write_text('{"no_such_field": 1}')
    stub_ray(init_error=ValueError("runtime_env field 'no_such_field' is not supported"))
    assert run_cli(tiny_config, tree_dir, tmp_path / "run", "--ray-runtime-env", str(tmp_path / "env.json")) == 2
    [line] = error_lines(capsys)[-1:]
    assert line == (
        f"error: --ray-runtime-env {tmp_path / 'env.json'}: Ray refused it "
        "(runtime_env field 'no_such_field' is not supported)"
    )


def test_a_worker_with_other_versions_trains_nothing(monkeypatch):
    monkeypatch.setattr(ray_executor, "node_identity", lambda: {"node": "10.0.0.7", "node_id": "ab12", "pid": 1})
    monkeypatch.setattr(ray_executor, "run_task", lambda *a, **k: pytest.fail("trained despite the mismatch"))
    expected = {**ray_connect.library_versions(), "torch": "0.0.1"}
    payload = ray_executor._remote_body(SimpleNamespace(), None, None, expected=expected)
    installed = ray_connect.library_versions()["torch"]
    assert payload["refused"] == (
        f"refused to train on 10.0.0.7: it has torch {installed} (the driver has 0.0.1); "
        "install the driver's versions there, or ship them with --ray-runtime-env"
    )


def test_versions_compare_each_library():
    driver = {"tuneoff": "1.0", "torch": "2.1", "transformers": "4.0", "peft": None}
    assert ray_connect.version_mismatch(driver, dict(driver)) is None
    assert (
        ray_connect.version_mismatch(driver, {**driver, "peft": "0.9", "torch": "2.2"})
        == "torch 2.2 (the driver has 2.1), peft 0.9 (the driver has None)"
    )
    assert set(ray_connect.library_versions()) == {"tuneoff", "torch", "transformers", "peft"}


def test_a_task_is_named_by_its_job():
    assert ray_executor.task_name(SimpleNamespace(name="lora", label="seed-2")) == "lora/seed-2"
