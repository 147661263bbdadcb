"""Run tfoscope analyze on a Dask cluster, one task per vantage, then tfoscope judge once.

>>> from distributed import Client, LocalCluster
>>> from tfoscope_dask import Vantage, analyze_all, judge
>>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))
>>> results = analyze_all(client, [Vantage("a", ["a-1.pcap", "a-2.pcap"])], "dataset/")
>>> judge("dataset/", "verdicts/")
"""

from .runner import AnalyzeResult, Vantage, analyze_all, analyze_vantage, judge, vantages_from_globs

__all__ = ["AnalyzeResult", "Vantage", "analyze_all", "analyze_vantage", "judge", "vantages_from_globs"]
