"""``factsift serve`` as a real process: a taken port, labelling, and a clean stop on SIGINT/SIGTERM."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from serving import post_json, request

COMMAND = Path(sys.executable).with_name("factsift")
COUNCIL = "The council voted 7-2 to close the library. “We had no choice,” the mayor said. It is a shameful decision."


def start(*options) -> tuple[subprocess.Popen, tuple[str, int]]:
    """Start ``factsift serve --port 0 OPTIONS``; returns the process and the address it listens on."""
    process = subprocess.Popen(
        [COMMAND, "serve", "--port", "0", *map(str, options)],
        stderr=subprocess.PIPE, text=True, encoding="utf-8",
    )
    lines = []
    for line in process.stderr:
        lines.append(line)
        found = re.search(r"on http://127\.0\.0\.1:(\d+)/", line)
        if found:
            return process, ("127.0.0.1", int(found.group(1)))
    process.wait(timeout=60)
    raise AssertionError("the server did not start:\n" + "".join(lines))


def stop(process: subprocess.Popen, sig: int) -> tuple[int, str]:
    """Send ``sig``; the exit code and the rest of stderr."""
    process.send_signal(sig)
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return process.returncode, err


def test_a_taken_port_is_a_one_line_error_before_the_model_loads(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [COMMAND, "serve", "--port", str(port), "--model", tmp_path / "no-such-model"],
            capture_output=True, text=True, encoding="utf-8", timeout=120,
        )
    assert result.returncode == 2
    assert result.stderr == f"factsift: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def assert_stopped_cleanly(code: int, err: str, address: tuple[str, int]) -> None:
    assert code == 0, err
    assert "Application shutdown complete" in err and err.endswith("factsift: server stopped\n")
    assert "Traceback" not in err
    with pytest.raises(ConnectionRefusedError):
        request(address, "GET", "/v1/health")


def test_the_server_stops_cleanly_on_sigterm(tiny_model_dir):
    process, address = start("--model", tiny_model_dir, "--device", "cpu", "--threads", "1")
    try:
        status, body = post_json(address, {"text": COUNCIL})
        assert status == 200 and len(body["sentences"]) == 3
    finally:
        code, err = stop(process, signal.SIGTERM)
    assert_stopped_cleanly(code, err, address)


@pytest.mark.shipped
def test_the_shipped_model_labels_the_council_example_and_stops_on_sigint():
    process, address = start("--threads", "2")
    try:
        status, body = post_json(address, {"text": COUNCIL})
        health = request(address, "GET", "/v1/health")
    finally:
        code, err = stop(process, signal.SIGINT)
    assert_stopped_cleanly(code, err, address)
    assert status == 200
    assert [s["label"] for s in body["sentences"]] == ["fact", "quotation", "opinion"]
    assert [COUNCIL[s["start"]:s["end"]] for s in body["sentences"]] == [s["text"] for s in body["sentences"]]
    assert health[0] == 200 and b'"model":"factsift-minilm"' in health[2]
