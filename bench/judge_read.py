"""The yardstick of `bench/run.sh judge`: polars reading the columns judge reads, of the same
dataset, into memory (issue 28: judge within 3x of this read).

    python3 bench/judge_read.py DATASET COLUMN[,COLUMN...]
"""

import sys
import time

import polars as pl

dataset, columns = sys.argv[1], sys.argv[2].split(",")
started = time.perf_counter()
# The vantage is a column of every part as well as its folder's name: read the column.
frame = pl.scan_parquet(f"{dataset}/connections/**/*.parquet", hive_partitioning=False).select(columns).collect()
print(f"{time.perf_counter() - started:.2f} s, {frame.height} rows, {len(columns)} columns")
