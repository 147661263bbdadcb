"""The tasks: one `tfoscope analyze` per vantage on a worker, `tfoscope judge` once after."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterable, Optional, Sequence

import fsspec
from fsspec.core import url_to_fs


@dataclasses.dataclass(frozen=True)
class Vantage:
    """One vantage: its captures (rotated files of one stream, read in time order as one) and
    the captures made at its servers, as local paths or fsspec URLs."""

    name: str
    captures: Sequence[str]
    server_captures: Sequence[str] = ()


@dataclasses.dataclass(frozen=True)
class AnalyzeResult:
    vantage: str
    captures: int
    bytes: int
    seconds: float
    worker: str
    stdout: str


def _is_local(url: str) -> bool:
    fs, _ = url_to_fs(url)
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def _stage(urls: Iterable[str], into: Path) -> list[str]:
    """Local paths for the binary: local files as they are, others copied to the worker."""
    paths = []
    for i, url in enumerate(urls):
        fs, path = url_to_fs(url)
        if _is_local(url):
            paths.append(path)
            continue
        # A name of its own per file (rotated files of two folders may share names), the
        # extension kept: the binary tells .gz and .zst by it.
        local = into / f"{i:06d}-{Path(path).name}"
        fs.get(path, str(local))
        paths.append(str(local))
    return paths


def _size(urls: Iterable[str]) -> int:
    total = 0
    for url in urls:
        fs, path = url_to_fs(url)
        total += fs.size(path) or 0
    return total


def analyze_vantage(
    vantage: Vantage,
    out: str,
    tfoscope: str = "tfoscope",
    extra_args: Sequence[str] = (),
) -> AnalyzeResult:
    """One task: `tfoscope analyze --partition-by vantage` of one vantage into the dataset
    `out` (its parts appear whole or not at all: the binary writes them hidden and renames
    them; to a remote dataset they are uploaded once complete)."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tfoscope-dask-") as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        captures = _stage(vantage.captures, tmp / "in")
        servers = _stage(vantage.server_captures, tmp / "in")
        remote_out = not _is_local(out)
        local_out = str(tmp / "out") if remote_out else url_to_fs(out)[1]
        command = [tfoscope, "analyze", "--partition-by", "vantage", "--vantage", vantage.name, "-o", local_out]
        for s in servers:
            command += ["--server-capture", s]
        command += list(extra_args) + captures
        run = subprocess.run(command, capture_output=True, text=True)
        # Exit 1: some file of the vantage was unreadable, the rest analysed (the files table
        # says which); 2: nothing could be done.
        if run.returncode not in (0, 1):
            raise RuntimeError(f"{vantage.name}: {' '.join(command)}: {run.stderr.strip()}")
        if remote_out:
            fs, root = url_to_fs(out)
            for path in sorted(Path(local_out).rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    target = f"{root.rstrip('/')}/{path.relative_to(local_out).as_posix()}"
                    fs.makedirs(os.path.dirname(target), exist_ok=True)
                    fs.put_file(str(path), target)
    return AnalyzeResult(
        vantage=vantage.name,
        captures=len(vantage.captures) + len(vantage.server_captures),
        bytes=_size(list(vantage.captures) + list(vantage.server_captures)),
        seconds=time.monotonic() - start,
        worker=_worker_name(),
        stdout=run.stdout,
    )


def _worker_name() -> str:
    """The host, and the Dask worker's address where the task ran on one: local workers of
    one machine share the host name."""
    try:
        from distributed import get_worker

        return f"{os.uname().nodename} {get_worker().address}"
    except (ImportError, ValueError):
        return os.uname().nodename


def analyze_all(
    client,
    vantages: Sequence[Vantage],
    out: str,
    tfoscope: str = "tfoscope",
    extra_args: Sequence[str] = (),
) -> list[AnalyzeResult]:
    """Every vantage a task on `client`'s cluster, largest first (the longest tasks start
    early); returns when all are done, in the order given. A failed task raises."""
    if len({v.name for v in vantages}) != len(vantages):
        raise ValueError("two vantages of one name would write one partition")
    fs, root = url_to_fs(out)
    fs.makedirs(root, exist_ok=True)
    order = sorted(range(len(vantages)), key=lambda i: -len(vantages[i].captures))
    futures = {
        i: client.submit(analyze_vantage, vantages[i], out, tfoscope, tuple(extra_args), pure=False, key=f"analyze-{i}-{vantages[i].name}")
        for i in order
    }
    return [futures[i].result() for i in range(len(vantages))]


def judge(
    dataset: str,
    out: str,
    controls: Sequence[str] = (),
    tfoscope: str = "tfoscope",
    buckets: int = 1,
    extra_args: Sequence[str] = (),
) -> str:
    """`tfoscope judge` once over the dataset, here (a remote dataset's tables are staged
    first: connections/, files/ and hops/ only). Returns its standard output."""
    with tempfile.TemporaryDirectory(prefix="tfoscope-judge-") as tmp:
        local = url_to_fs(dataset)[1]
        if not _is_local(dataset):
            fs, root = url_to_fs(dataset)
            local = str(Path(tmp) / "dataset")
            for table in ("connections", "files", "hops"):
                if fs.exists(f"{root}/{table}"):
                    fs.get(f"{root}/{table}", f"{local}/{table}", recursive=True)
        command = [tfoscope, "judge", "-o", out, "--buckets", str(buckets)]
        for c in controls:
            command += ["--control", c]
        command += list(extra_args) + [local]
        run = subprocess.run(command, capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"{' '.join(command)}: {run.stderr.strip()}")
        return run.stdout


def vantages_from_globs(specs: Sequence[str]) -> list[Vantage]:
    """`NAME=GLOB[,GLOB...]` (GLOB a local pattern or an fsspec URL pattern) to vantages; a
    `server:` GLOB is one of the vantage's server-side captures."""
    vantages = []
    for spec in specs:
        name, _, globs = spec.partition("=")
        if not name or not globs:
            raise ValueError(f"{spec!r}: expected NAME=GLOB")
        captures, servers = [], []
        for pattern in globs.split(","):
            into = servers if pattern.startswith("server:") else captures
            pattern = pattern.removeprefix("server:")
            fs, path = url_to_fs(pattern)
            found = sorted(fs.glob(path))
            if not found:
                raise FileNotFoundError(f"{name}: nothing matches {pattern}")
            protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
            into.extend(p if protocol == "file" and "://" not in pattern else fs.unstrip_protocol(p) for p in found)
        vantages.append(Vantage(name, tuple(captures), tuple(servers)))
    return vantages
