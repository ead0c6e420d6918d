#!/usr/bin/env python3
"""Receives Comptoir webhooks and prints each one (Python standard library).

    WEBHOOK_SECRET=whsec_... PORT=8099 python3 webhook_receiver.py

Register http://THIS-HOST:8099/ in Settings > Webhooks (or POST /api/hooks);
WEBHOOK_SECRET is the secret shown once then. A delivery whose signature does
not verify, or older than five minutes (a replay), is answered 403.
"""
import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ["WEBHOOK_SECRET"].encode()


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        ts = self.headers.get("X-Comptoir-Timestamp", "0")
        mac = hmac.new(SECRET, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        fresh = ts.isdigit() and abs(time.time() - int(ts)) < 300
        if not fresh or not hmac.compare_digest("v1=" + mac,
                                                self.headers.get("X-Comptoir-Signature", "")):
            self.send_response(403)
            self.end_headers()
            return
        d = json.loads(body)
        item = d.get("comment") or d.get("post") or {}
        print(d["event"], item.get("author", "-"), item.get("text", ""), flush=True)
        self.send_response(204)  # answer quickly: do slow work elsewhere
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8099"))), Hook).serve_forever()
