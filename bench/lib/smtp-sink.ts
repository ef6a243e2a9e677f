// A local SMTP sink for the bench's reset group, run as its own process (so
// that receiving mail takes nothing from the load generator's core):
//
//   node dist/bench/lib/smtp-sink.js --smtp-port P --http-port Q [--delay-ms D]
//
// It accepts every mail (no TLS, no AUTH) and counts it; with --delay-ms it
// answers each DATA only after that delay, like a slow relay. GET on the HTTP
// port answers {"received": N}, and `POST /delay?ms=D` changes the delay.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { SMTPServer } from 'smtp-server';

const { values } = parseArgs({
  options: {
    'smtp-port': { type: 'string' },
    'http-port': { type: 'string' },
    'delay-ms': { type: 'string', default: '0' },
  },
});
let delayMs = Number(values['delay-ms']);
let received = 0;

const smtp = new SMTPServer({
  // Plain SMTP on loopback: no STARTTLS offered, so nodemailer does not upgrade.
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  // Many pooled connections from the server; no limit of smtp-server's own.
  maxClients: 1000,
  onData(stream, _session, callback) {
    stream.on('data', () => {});
    stream.on('end', () => {
      const done = () => {
        received++;
        callback();
      };
      if (delayMs > 0) setTimeout(done, delayMs);
      else done();
    });
  },
});
smtp.on('error', (err) => process.stderr.write(`smtp sink: ${err.message}\n`));
smtp.listen(Number(values['smtp-port']), '127.0.0.1');

http
  .createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sink');
    if (req.method === 'POST' && url.pathname === '/delay') delayMs = Number(url.searchParams.get('ms') ?? '0');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ received, delayMs }));
  })
  .listen(Number(values['http-port']), '127.0.0.1');

process.on('SIGTERM', () => process.exit(0));
