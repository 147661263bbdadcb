"""tfoscope-dask on a LocalCluster of worker processes: the targets of analyze-per-vantage on
the cluster, then judge once, equal a single tfoscope analyze run of the same captures.

Run as a script by the Rust test tests/python_dask.rs (TFOSCOPE: the binary, TESTDATA: the
captures, WORK: a scratch folder): `python3 test_local_cluster.py` builds the cluster and hands
it to each test function."""

import os
import shutil
import subprocess
from pathlib import Path

import polars as pl
from distributed import Client, LocalCluster

import teststore
from tfoscope_dask import Vantage, analyze_all, judge, vantages_from_globs

TFOSCOPE = os.environ["TFOSCOPE"]
TESTDATA = Path(os.environ["TESTDATA"])
WORK = Path(os.environ["WORK"])
KEY = ["vantage", "target", "server_ip", "server_port"]


def single_run(out: Path, *args: str) -> pl.DataFrame:
    subprocess.run([TFOSCOPE, "analyze", "-o", str(out), *args], check=True, capture_output=True)
    return pl.read_parquet(out / "targets.parquet").sort(KEY)


def judged(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "targets.parquet").sort(KEY)


def assert_equal(expected: pl.DataFrame, found: pl.DataFrame, what: str):
    assert expected.height > 0, what
    assert expected.equals(found), f"{what}:\n{expected}\n{found}"


def test_each_capture_a_vantage_on_two_workers(client):
    captures = sorted(p for p in TESTDATA.iterdir() if p.suffix in (".pcap", ".pcapng"))
    vantages = [Vantage(p.stem, [str(p)]) for p in captures]
    dataset = WORK / "dataset"
    results = analyze_all(client, vantages, str(dataset), tfoscope=TFOSCOPE)
    assert [r.vantage for r in results] == [v.name for v in vantages]
    # Both workers took tasks (each worker a process of its own, named by its address).
    workers = {r.worker for r in results}
    assert len(workers) == 2, workers
    parts = sorted(dataset.glob("connections/vantage=*/part-*.parquet"))
    assert len(parts) == len(captures), parts
    judge(str(dataset), str(WORK / "judged"), tfoscope=TFOSCOPE)
    expected = single_run(WORK / "single", str(TESTDATA))
    assert_equal(expected, judged(WORK / "judged"), "each capture a vantage")
    # Again into the same dataset (another run's parts beside the first's): every vantage's
    # connections twice, read as one table by polars.
    analyze_all(client, vantages[:2], str(dataset), tfoscope=TFOSCOPE)
    whole = pl.scan_parquet(str(dataset / "connections" / "**" / "*.parquet"), hive_partitioning=True).collect()
    single = pl.read_parquet(WORK / "single" / "connections.parquet")
    again = single.filter(pl.col("vantage").is_in([v.name for v in vantages[:2]])).height
    assert again > 0 and whole.height == single.height + again, (whole.height, single.height, again)


def test_rotated_files_and_a_remote_store(client):
    """One vantage of two rotated files, read from and written to a filesystem fsspec does
    not see as local: staged to the worker, parts uploaded, the dataset staged for judge."""
    store = WORK / "store"
    (store / "captures").mkdir(parents=True)
    for name in ("clean_http.pcap", "syndata_dropped.pcap"):
        shutil.copy(TESTDATA / name, store / "captures" / name)
    client.run(teststore.register)
    teststore.register()
    vantages = vantages_from_globs([f"rotated=teststore://{store}/captures/*.pcap"])
    assert vantages[0].captures[0].startswith("teststore://"), vantages
    out = f"teststore://{store}/dataset"
    analyze_all(client, vantages, out, tfoscope=TFOSCOPE)
    assert list((store / "dataset" / "connections").glob("vantage=rotated/part-*.parquet"))
    assert not list((store / "dataset").rglob(".*")), "no hidden half-parts uploaded"
    judge(out, str(WORK / "judged-remote"), tfoscope=TFOSCOPE)
    expected = single_run(
        WORK / "single-rotated", "--vantage", "rotated", *(str(TESTDATA / n) for n in ("clean_http.pcap", "syndata_dropped.pcap"))
    )
    assert_equal(expected, judged(WORK / "judged-remote"), "rotated, remote")


if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as c:
        assert len(c.scheduler_info()["workers"]) == 2
        test_each_capture_a_vantage_on_two_workers(c)
        test_rotated_files_and_a_remote_store(c)
    print("ok")
