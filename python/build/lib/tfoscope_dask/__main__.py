"""tfoscope-dask: analyze vantages on a Dask cluster, then judge once."""

from __future__ import annotations

import argparse
import sys
import time

from .runner import analyze_all, judge, vantages_from_globs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="tfoscope-dask", description=__doc__)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786)")
    where.add_argument("--local-workers", type=int, help="start a LocalCluster of this many worker processes")
    p.add_argument("--out", required=True, help="the dataset: a shared path or an fsspec URL (s3://...)")
    p.add_argument("--judge-out", help="run tfoscope judge into this folder once all vantages are done")
    p.add_argument("--control", action="append", default=[], help="a control vantage, by name (repeatable)")
    p.add_argument("--buckets", type=int, default=1, help="judge --buckets")
    p.add_argument("--tfoscope", default="tfoscope", help="the tfoscope binary on the workers")
    p.add_argument("vantages", nargs="+", metavar="NAME=GLOB[,server:GLOB]")
    args = p.parse_args(argv)

    from distributed import Client, LocalCluster

    vantages = vantages_from_globs(args.vantages)
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        client = Client(LocalCluster(n_workers=args.local_workers, threads_per_worker=1, processes=True))
    start = time.monotonic()
    with client:
        results = analyze_all(client, vantages, args.out, tfoscope=args.tfoscope)
    seconds = time.monotonic() - start
    captures = sum(r.captures for r in results)
    print(f"{len(results)} vantages, {captures} captures analysed in {seconds:.1f} s ({captures / seconds:.1f} captures/s) -> {args.out}")
    if args.judge_out:
        print(judge(args.out, args.judge_out, args.control, tfoscope=args.tfoscope, buckets=args.buckets), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
