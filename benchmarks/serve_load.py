"""`factsift serve` under concurrent load, against direct `Classifier.label_texts` in the same run.

    python benchmarks/serve_load.py [--model DIR] [--clients 16] [--seconds 30] [--threads N]

For the int8 ONNX model, export it first (`factsift export --model models/factsift-minilm
--output /tmp/minilm-int8 --quantize int8`) and pass `--model /tmp/minilm-int8`.

The request texts are the paragraphs of ../shared/examples/commentary_taiwan.txt and the whole
article (a mix of 3- and 36-sentence requests). In one run:

1. direct: a subprocess loads the model and calls `label_texts` on all the texts, over and over,
   for --direct-seconds; sentences/s is the baseline. It runs before and after the load test, and
   the ratio is to the mean of the two (the machine's load may drift in between).
2. served: `factsift serve` starts on a free localhost port in a subprocess with the same model
   and threads; after a warm-up, --clients threads each POST one text at a time to /v1/label on a
   keep-alive connection for --seconds (each also stops after --max-requests). Every response is
   checked (status 200, one record per expected sentence); anything else counts as an error.

It reports latency p50/p95/p99, requests/s, sentences/s, errors and the server's RSS at the start
and end of the load (and its peak), then the load average of the machine. Prints a markdown table.
Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO.parent / "shared" / "examples" / "commentary_taiwan.txt"
HOST = "127.0.0.1"

DIRECT = """
import json, sys, time
from factsift import Classifier
model, threads, seconds, texts = json.loads(sys.stdin.read())
classifier = Classifier.from_pretrained(model, threads=threads)
list(classifier.label_texts(texts))  # warm-up
sentences, start = 0, time.perf_counter()
while time.perf_counter() - start < seconds:
    sentences += sum(len(document) for document in classifier.label_texts(texts))
print(json.dumps({"sentences": sentences, "seconds": time.perf_counter() - start}))
"""
SERVE = "import sys; from factsift.cli import main; sys.exit(main())"


def request_texts() -> list[str]:
    """The example's paragraphs, then the whole article."""
    if not EXAMPLE.is_file():
        sys.exit(f"{EXAMPLE} not found: run from the repository root with shared/ beside it")
    text = EXAMPLE.read_text(encoding="utf-8")
    return [paragraph for paragraph in text.split("\n") if paragraph.strip()] + [text]


def direct_rate(model: str | None, threads: int | None, seconds: float, texts: list[str]) -> float:
    """Sentences/s of `label_texts` on ``texts`` in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-c", DIRECT], input=json.dumps([model, threads, seconds, texts]),
        capture_output=True, text=True, check=True, timeout=seconds + 600,
    )
    measured = json.loads(result.stdout.splitlines()[-1])
    return measured["sentences"] / measured["seconds"]


def start_server(model: str | None, threads: int | None) -> tuple[subprocess.Popen, int]:
    """`factsift serve --port 0` in a subprocess; the process and its port once it is up."""
    command = [sys.executable, "-c", SERVE, "serve", "--host", HOST, "--port", "0"]
    command += ["--model", model] if model else []
    command += ["--threads", str(threads)] if threads else []
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, encoding="utf-8")
    for line in process.stderr:
        found = re.search(rf"on http://{re.escape(HOST)}:(\d+)/", line)
        if found:
            threading.Thread(target=process.stderr.read, daemon=True).start()  # keep the pipe drained
            return process, int(found.group(1))
    sys.exit(f"the server did not start (exit code {process.wait()})")


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Client(threading.Thread):
    """POSTs texts one at a time on a keep-alive connection until the deadline or ``max_requests``."""

    def __init__(self, port: int, bodies: list[tuple[bytes, int]], offset: int, deadline: float, max_requests: int):
        super().__init__(daemon=True)
        self.port, self.bodies, self.offset = port, bodies, offset
        self.deadline, self.max_requests = deadline, max_requests
        self.latencies: list[float] = []
        self.sentences = self.errors = 0

    def run(self) -> None:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=60)
        count = 0
        while time.perf_counter() < self.deadline and count < self.max_requests:
            body, expected = self.bodies[(self.offset + count) % len(self.bodies)]
            count += 1
            start = time.perf_counter()
            try:
                connection.request("POST", "/v1/label", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                content = response.read()
                ok = response.status == 200 and len(orjson.loads(content)["sentences"]) == expected
            except (OSError, http.client.HTTPException, ValueError, KeyError):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection(HOST, self.port, timeout=60)
            if ok:
                self.latencies.append(time.perf_counter() - start)
                self.sentences += expected
            else:
                self.errors += 1
        connection.close()


def load(port: int, pid: int, bodies: list[tuple[bytes, int]], clients: int, seconds: float,
         max_requests: int) -> dict:
    """Run the clients; latencies, counts and the server's RSS over the run."""
    rss = [rss_mb(pid)]
    start = time.perf_counter()
    workers = [Client(port, bodies, i, start + seconds, max_requests) for i in range(clients)]
    for worker in workers:
        worker.start()
    while any(worker.is_alive() for worker in workers):
        time.sleep(1)
        rss.append(rss_mb(pid))
    elapsed = time.perf_counter() - start
    latencies = sorted(latency for worker in workers for latency in worker.latencies)
    return {
        "seconds": elapsed, "requests": len(latencies), "errors": sum(worker.errors for worker in workers),
        "sentences": sum(worker.sentences for worker in workers), "latencies": latencies,
        "rss_start": rss[0], "rss_end": rss[-1], "rss_peak": max(rss),
    }


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model directory (default: the shipped model)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=30, help="length of the load (default: %(default)s)")
    parser.add_argument("--max-requests", type=int, default=100_000, help="per client (default: %(default)s)")
    parser.add_argument("--direct-seconds", type=float, default=10, help="each direct run (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="inference threads, server and direct (default: physical cores)")
    args = parser.parse_args()
    if not (1 <= args.clients <= 64 and 0 < args.seconds <= 600 and 0 < args.direct_seconds <= 600):
        parser.error("--clients must be 1-64, --seconds and --direct-seconds at most 600")

    from factsift.segment import split_sentences

    texts = request_texts()
    bodies = [(orjson.dumps({"text": text}), len(split_sentences(text))) for text in texts]
    load_before = os.getloadavg()
    direct_before = direct_rate(args.model, args.threads, args.direct_seconds, texts)
    process, port = start_server(args.model, args.threads)
    try:
        load(port, process.pid, bodies, args.clients, 1.0, len(bodies))  # warm-up
        served = load(port, process.pid, bodies, args.clients, args.seconds, args.max_requests)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    direct_after = direct_rate(args.model, args.threads, args.direct_seconds, texts)
    load_after = os.getloadavg()

    direct = (direct_before + direct_after) / 2
    served_rate = served["sentences"] / served["seconds"]
    milliseconds = [1000 * percentile(served["latencies"], share) for share in (0.50, 0.95, 0.99)]
    sentences_per_request = sum(count for _, count in bodies) / len(bodies)
    rows = [
        ("model", args.model or "shipped (models/factsift-minilm)"),
        ("inference threads", args.threads or "default (physical cores)"),
        ("texts", f"{len(texts)} texts of {EXAMPLE.name}, {sentences_per_request:.1f} sentences each on average"),
        ("clients × seconds", f"{args.clients} × {served['seconds']:.1f} s"),
        ("requests (errors)", f"{served['requests']:,} ({served['errors']})"),
        ("requests/s", f"{served['requests'] / served['seconds']:.1f}"),
        ("latency p50 / p95 / p99", " / ".join(f"{value:.0f} ms" for value in milliseconds)),
        ("sentences/s served", f"{served_rate:.0f}"),
        ("sentences/s direct label_texts (before / after)", f"{direct_before:.0f} / {direct_after:.0f}"),
        ("served / direct", f"{served_rate / direct:.2f}"),
        ("server RSS start / end (peak)",
         f"{served['rss_start']:.0f} / {served['rss_end']:.0f} MB ({served['rss_peak']:.0f} MB), "
         f"{100 * (served['rss_end'] / served['rss_start'] - 1):+.1f}%"),
        ("load average before / after (1 min)", f"{load_before[0]:.2f} / {load_after[0]:.2f} on {os.cpu_count()} CPUs"),
    ]
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
