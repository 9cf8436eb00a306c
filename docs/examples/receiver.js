// A webhook receiver in Node: the same as receiver.py, with the `standardwebhooks` npm
// package (`npm install standardwebhooks`). The README shows this file from its first
// require on. Run: WEBHOOK_SECRET=whsec_… node receiver.js 9000
const http = require("node:http");
const { Webhook, WebhookVerificationError } = require("standardwebhooks");

const webhook = new Webhook(process.env.WEBHOOK_SECRET); // the webhook's secret, "whsec_…"
const seen = new Set(); // webhook-ids handled already: a repeat is acknowledged, not processed again

http
  .createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks); // the exact bytes
      let event;
      try {
        event = webhook.verify(body, request.headers); // signature and timestamp
      } catch (error) {
        if (!(error instanceof WebhookVerificationError)) throw error;
        console.log("refused:", error.message);
        response.writeHead(400).end();
        return;
      }
      const messageId = request.headers["webhook-id"];
      if (seen.has(messageId)) {
        console.log("repeat of", messageId);
      } else {
        seen.add(messageId);
        console.log("verified", event.type, messageId + (event.test ? " (test)" : ""));
      }
      response.writeHead(204).end(); // answer at once; do slow work after
    });
  })
  .listen(Number(process.argv[2] ?? 9000), "127.0.0.1", function () {
    console.log(`listening on http://127.0.0.1:${this.address().port}`);
  });
