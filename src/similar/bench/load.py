"""`similar bench load`: requests against a real `similar serve` on 127.0.0.1, plain and during index reloads."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .. import store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _phase(
    base: str, pmids: list[str], requests: int, concurrency: int, reload_every: float | None, token: str
) -> dict:
    import httpx

    latencies, errors, statuses, reloads = [], 0, {}, 0
    queue = list(range(requests))
    rng = random.Random(0)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        stop = asyncio.Event()

        async def reloader():
            nonlocal reloads
            while not stop.is_set():
                await asyncio.sleep(reload_every)
                r = await client.post("/admin/reload", headers={"Authorization": f"Bearer {token}"})
                reloads += r.status_code == 200

        async def worker():
            nonlocal errors
            while queue:
                queue.pop()
                pmid = rng.choice(pmids)
                t = time.perf_counter()
                try:
                    r = await client.get(f"/v1/papers/{pmid}/similar", params={"n": 10})
                    code = r.status_code
                    ok = code == 200 and len(r.json()["neighbors"]) == 10
                except httpx.HTTPError:
                    code, ok = "exception", False
                latencies.append(time.perf_counter() - t)
                statuses[str(code)] = statuses.get(str(code), 0) + 1
                errors += not ok

        started = time.perf_counter()
        task = asyncio.create_task(reloader()) if reload_every else None
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
        stop.set()
        if task:
            task.cancel()
    ms = np.array(latencies) * 1000
    return {
        "requests": requests,
        "concurrency": concurrency,
        "seconds": round(wall, 2),
        "throughput_rps": round(requests / wall, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "errors": errors,
        "statuses": statuses,
        "reloads": reloads,
    }


def run_load(
    index_dir: str | Path,
    requests: int = 5000,
    concurrency: int = 32,
    out_dir: str | Path = "benchmarks/results",
    name: str = "load",
) -> dict:
    index_dir = Path(index_dir)
    pmids = store.read_rows(index_dir, store.read_manifest(index_dir).count)
    port, token = _free_port(), secrets.token_hex(8)
    env = {**os.environ, "SIMILAR_ADMIN_TOKEN": token}
    proc = subprocess.Popen(
        [sys.executable, "-m", "similar.cli", "serve", "--index", str(index_dir), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"server did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        asyncio.run(_phase(base, pmids, 300, concurrency, None, token))  # warm-up
        plain = asyncio.run(_phase(base, pmids, requests, concurrency, None, token))
        during_reload = asyncio.run(_phase(base, pmids, requests, concurrency, 1.0, token))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    results = {
        "name": name,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": f"similar bench load --index {index_dir} --requests {requests} --concurrency {concurrency}",
        "index": str(index_dir),
        "papers": len(pmids),
        "cpus": os.cpu_count(),
        "note": "client and server share this machine's cores; one uvicorn worker",
        "plain": plain,
        "during_reload": during_reload,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / f"{name}.md").write_text(load_markdown(results))
    return results


def load_markdown(r: dict) -> str:
    lines = [
        f"# Load: {r['name']}",
        "",
        f"Command: `{r['command']}` ({r['date']}); index of {r['papers']} papers; " f"{r['cpus']} CPUs; {r['note']}.",
        "",
        "| phase | requests | concurrency | throughput (req/s) | p50 (ms) | p99 (ms) | errors | reloads |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for phase in ("plain", "during_reload"):
        p = r[phase]
        lines.append(
            f"| {phase} | {p['requests']} | {p['concurrency']} | {p['throughput_rps']} | {p['p50_ms']} | {p['p99_ms']} | {p['errors']} | {p['reloads']} |"
        )
    return "\n".join(lines) + "\n"
