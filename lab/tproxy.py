#!/usr/bin/env python3
"""A transparent TCP proxy for the lab router: netfilter REDIRECTs connections to it, it reads
the original destination (SO_ORIGINAL_DST) and relays to it over a fresh connection.

usage: tproxy.py PORT [--tfo]      (IPv4)
With --tfo its listener does TCP Fast Open, so clients get cookies from the proxy, not from
the origin: the "negotiated where not expected" middlebox.
"""
import socket
import struct
import sys
import threading

SO_ORIGINAL_DST = 80
TCP_FASTOPEN = 23


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def handle(client):
    raw = client.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, packed = struct.unpack_from("!2xH4s", raw)
    try:
        upstream = socket.create_connection((socket.inet_ntoa(packed), port), timeout=5)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    pipe(upstream, client)


def main():
    port = int(sys.argv[1])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if "--tfo" in sys.argv:
        listener.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN, 16)
    listener.bind(("0.0.0.0", port))
    listener.listen(64)
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
