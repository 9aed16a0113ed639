"""Network stand-ins placed between the agent and moto_server, so the tests can take an AWS
endpoint away (TcpProxy.down/up: connections refused, moto keeps its state) or make it answer
like a throttled AWS service (FaultyJsonProxy: throttling errors and partial PutEvents
failures), and record exactly what the agent sent."""

from __future__ import annotations

import http.client
import http.server
import json
import socket
import threading


class TcpProxy:
    """Byte-level proxy 127.0.0.1:port -> 127.0.0.1:target. `down()` closes the listener and
    every open connection (clients see connection refused); `up()` listens again on the same
    port."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.listener = None
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(128)
        self.listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()
        return self

    def down(self):
        ls, self.listener = self.listener, None
        if ls is not None:
            ls.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept(self, ls):
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
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


class FaultyJsonProxy:
    """HTTP proxy for the JSON-protocol services (CloudWatch Logs, EventBridge) in front of
    moto. Per X-Amz-Target it can answer the first `throttle[target]` calls with HTTP 400
    ThrottlingException (without forwarding), and, for PutEvents, fail every
    `fail_every`-th entry with an entry-level ThrottlingException (that entry is not forwarded,
    so a correct client must send it again and only it). Records every forwarded request body
    per target in `sent`."""

    def __init__(self, target_port: int, throttle: dict | None = None, fail_every: int = 0):
        self.target_port = target_port
        self.throttle = dict(throttle or {})
        self.fail_every = fail_every
        self.entry_counter = 0
        self.sent: dict[str, list] = {}
        self.throttled: dict[str, int] = {}
        self.failed_entries = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                target = self.headers.get("X-Amz-Target", "")
                status, headers, reply = proxy.handle(target, dict(self.headers), body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def forward(self, headers: dict, body: bytes):
        conn = http.client.HTTPConnection("127.0.0.1", self.target_port, timeout=60)
        fwd = {k: v for k, v in headers.items()
               if k.lower() not in ("host", "content-length", "connection")}
        conn.request("POST", "/", body=body, headers=fwd)
        r = conn.getresponse()
        data = r.read()
        out_headers = {"Content-Type": r.getheader("Content-Type", "application/x-amz-json-1.1")}
        if r.getheader("x-amzn-RequestId"):
            out_headers["x-amzn-RequestId"] = r.getheader("x-amzn-RequestId")
        conn.close()
        return r.status, out_headers, data

    def handle(self, target: str, headers: dict, body: bytes):
        short = target.rsplit(".", 1)[-1]
        with self.lock:
            if self.throttle.get(short, 0) > 0:
                self.throttle[short] -= 1
                self.throttled[short] = self.throttled.get(short, 0) + 1
                err = {"__type": "ThrottlingException", "message": "Rate exceeded"}
                return 400, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(err).encode()
        if short == "PutEvents" and self.fail_every:
            return self.put_events_partial(headers, body)
        status, h, data = self.forward(headers, body)
        if status == 200:
            with self.lock:
                self.sent.setdefault(short, []).append(json.loads(body))
        return status, h, data

    def put_events_partial(self, headers: dict, body: bytes):
        req = json.loads(body)
        keep, fail = [], []
        with self.lock:
            for i, e in enumerate(req["Entries"]):
                self.entry_counter += 1
                (fail if self.entry_counter % self.fail_every == 0 else keep).append(i)
        results = [None] * len(req["Entries"])
        if keep:
            sub = dict(req, Entries=[req["Entries"][i] for i in keep])
            status, h, data = self.forward(headers, json.dumps(sub).encode())
            if status != 200:
                return status, h, data
            with self.lock:
                self.sent.setdefault("PutEvents", []).append(sub)
            for i, r in zip(keep, json.loads(data)["Entries"]):
                results[i] = r
        for i in fail:
            results[i] = {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}
        with self.lock:
            self.failed_entries += len(fail)
        reply = {"FailedEntryCount": sum(1 for r in results if "ErrorCode" in r),
                 "Entries": results}
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(reply).encode()
