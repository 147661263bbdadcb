#!/usr/bin/env python3
"""Read tfoscope's tables from a notebook: polars, pandas and DuckDB.

usage: python3 examples/read_targets.py OUT_DIR
OUT_DIR is the -o directory of `tfoscope analyze`. CI runs this on the lab captures.
"""
import sys
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl

out = Path(sys.argv[1] if len(sys.argv) > 1 else "tfoscope-out")
targets_path = str(out / "targets.parquet")
connections_path = str(out / "connections.parquet")

# polars: targets with a middlebox, and which signatures they show.
targets = pl.read_parquet(targets_path)
middleboxes = targets.filter(pl.col("middlebox")).select("vantage", "target", "signatures")
print("polars: targets with a middlebox")
print(middleboxes)

# pandas: the same file; list columns arrive as numpy arrays of strings.
df = pd.read_parquet(targets_path)
assert all(isinstance(s, str) for sigs in df["signatures"] for s in sigs)
by_connectivity = df.groupby("connectivity").size().sort_index()
print("\npandas: targets by connectivity")
print(by_connectivity.to_string())

# DuckDB: SQL over both tables, unnesting the signatures list.
con = duckdb.connect()
rows = con.execute(
    f"""
    SELECT sig AS signature, count(*) AS targets
    FROM (SELECT unnest(signatures) AS sig FROM read_parquet('{targets_path}'))
    GROUP BY sig ORDER BY sig
    """
).fetchall()
print("\nduckdb: signatures")
for signature, count in rows:
    print(f"  {signature}: {count}")
slow = con.execute(
    f"""
    SELECT vantage, first_syn_frame, connect_ms
    FROM read_parquet('{connections_path}')
    WHERE outcome = 'established_after_fallback'
    ORDER BY vantage, first_syn_frame
    """
).fetchall()
print("\nduckdb: connections that fell back to a plain SYN (the ~1 s TFO penalty)")
for vantage, frame, ms in slow:
    print(f"  {vantage} frame {frame}: {ms:.0f} ms")

# The same answers from all three, or the example is wrong.
assert sorted(middleboxes["target"].to_list()) == sorted(df[df["middlebox"] == True]["target"].tolist())
assert sum(c for _, c in rows) == sum(len(s) for s in targets["signatures"].to_list())
