#!/usr/bin/env python3
"""A webhook receiver to try packhooks with: listens on 127.0.0.1 (port from the command
line, default 9000), verifies every request with the Standard Webhooks reference library
(`pip install standardwebhooks`) and the secret in WEBHOOK_SECRET, prints one line per
delivery and answers 204 (400 when the signature does not verify). The README shows this
file from the import of the library on, and its walkthrough runs it."""
import http.server
import os
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["WEBHOOK_SECRET"])  # the webhook's secret, "whsec_…"
seen = set()  # webhook-ids handled already: a repeat is acknowledged, not processed again


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))  # the exact bytes
        try:
            event = webhook.verify(body, dict(self.headers))  # signature and timestamp
        except WebhookVerificationError as error:
            print("refused:", error, flush=True)
            self.send_response(400)
            self.end_headers()
            return
        message_id = self.headers["webhook-id"]
        if message_id in seen:
            print("repeat of", message_id, flush=True)
        else:
            seen.add(message_id)
            test = " (test)" if event["test"] else ""
            print("verified", event["type"], message_id + test, flush=True)
        self.send_response(204)  # answer at once; do slow work after
        self.end_headers()

    def log_message(self, *args):  # one line per delivery is enough
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
server = http.server.HTTPServer(("127.0.0.1", port), Receiver)
print(f"listening on http://127.0.0.1:{port}", flush=True)
server.serve_forever()
