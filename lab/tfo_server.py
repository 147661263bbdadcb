#!/usr/bin/env python3
"""A small HTTP(S) origin for the lab, with or without a TCP Fast Open listener.

usage: tfo_server.py ADDR PORT [--tfo] [--tls CERT KEY] [--body TEXT]
The kernel does the TFO work; this only sets TCP_FASTOPEN on the listening socket.
"""
import http.server
import socket
import socketserver
import ssl
import sys

TCP_FASTOPEN = 23


BODY = b"tfoscope lab origin\n"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = BODY
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    tfo = "--tfo" in sys.argv
    tls = sys.argv.index("--tls") if "--tls" in sys.argv else None
    if "--body" in sys.argv:
        global BODY
        BODY = sys.argv[sys.argv.index("--body") + 1].encode() + b"\n"

    class Server(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET

        def server_bind(self):
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if tfo:
                self.socket.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN, 16)
            # Not HTTPServer.server_bind: its getfqdn() asks the resolver, which the lab must
            # never touch (and which hangs inside a namespace).
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = addr, port

    server = Server((addr, port), Handler)
    if tls is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[tls + 1], sys.argv[tls + 2])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
