"""Reads tfoscope's OONI measurements with OONI's own library and prints what it read.

Usage: ooni_read_back.py FILE.jsonl. Each line goes through oonidata's load_measurement (which
builds its BaseMeasurement from the base fields, df-000-base); the fields are printed as
oonidata holds them, one JSON object per line. oonidata keeps no test keys for a test it does
not know: those are printed only if it holds them (null otherwise), never copied from the line.
"""
import json
import sys

from oonidata.dataclient import load_measurement

with open(sys.argv[1]) as lines:
    for line in lines:
        raw = json.loads(line)
        m = load_measurement(msmt=raw)
        print(json.dumps({
            "class": type(m).__name__,
            "input": m.input,
            "report_id": m.report_id,
            "measurement_start_time": m.measurement_start_time,
            "test_start_time": m.test_start_time,
            "probe_asn": m.probe_asn,
            "probe_cc": m.probe_cc,
            "test_name": m.test_name,
            "test_version": m.test_version,
            "test_runtime": m.test_runtime,
            "software_name": m.software_name,
            "software_version": m.software_version,
            "data_format_version": m.data_format_version,
            "annotations": m.annotations,
            "test_keys": getattr(m, "test_keys", None) if isinstance(getattr(m, "test_keys", None), dict) else None,
        }))
