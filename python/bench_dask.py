"""Captures per second through tfoscope-dask on a LocalCluster of 1 and of 2 worker processes
(bench/run.sh dask): every capture its own vantage, into a fresh dataset, then judge once.

    python3 python/bench_dask.py TFOSCOPE WORKDIR CAPTURE...
"""

import shutil
import sys
import time
from pathlib import Path

from distributed import Client, LocalCluster

from tfoscope_dask import Vantage, analyze_all, judge


def main():
    tfoscope, work, captures = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    vantages = [Vantage(f"v{i:04d}", [c]) for i, c in enumerate(captures)]
    size = sum(Path(c).stat().st_size for c in captures)
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            with Client(cluster) as client:
                out = work / f"dask-dataset-{workers}"
                shutil.rmtree(out, ignore_errors=True)
                start = time.monotonic()
                analyze_all(client, vantages, str(out), tfoscope=tfoscope)
                analyzed = time.monotonic() - start
                judge(str(out), str(work / f"dask-judged-{workers}"), tfoscope=tfoscope)
                total = time.monotonic() - start
        print(
            f"| {workers} worker{'s' if workers > 1 else ''} | {len(captures)} x {size / len(captures) / 1e3:,.0f} kB "
            f"| {analyzed:.1f} s | {len(captures) / analyzed:.1f} captures/s | {size / analyzed / 1e6:.0f} MB/s | judge done at {total:.1f} s |"
        )


if __name__ == "__main__":
    main()
