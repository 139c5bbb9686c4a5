// A lean WebSocket client for load/ws-idle-bench.sh: opens COUNT idle sockets to WS_URL from one loopback source address,
// each authenticated by `Sec-WebSocket-Protocol: bearer, <token>` with the tokens of TOKENS_FILE in turn (one per line), at
// most CONCURRENCY handshakes at a time. Prints {"opened","failed","first_error"} once every socket was tried, holds them
// (the `ws` package answers the server's pings) until SIGTERM or HOLD_LIMIT seconds, then prints
// {"closed_by_server"} and exits.
//   node ws-idle.mjs WS_URL TOKENS_FILE COUNT LOCAL_ADDRESS CONCURRENCY HOLD_LIMIT
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

const [url, tokensFile, countText, localAddress, concurrencyText, holdLimitText] = process.argv.slice(2);
if (!/^ws:\/\/127\.0\.0\.\d+(:\d+)?\//.test(url) || !/^127\.0\.0\.\d+$/.test(localAddress))
  throw new Error('loopback only: ws://127.0.0.x and a 127.0.0.x source address');
const tokens = readFileSync(tokensFile, 'utf8').split('\n').filter(Boolean);
const count = Number(countText);
const sockets = [];
let opened = 0, failed = 0, closedByServer = 0, firstError = null, next = 0;

function openOne(index) {
  return new Promise(resolve => {
    const socket = new WebSocket(url, ['bearer', tokens[index % tokens.length]], { localAddress, perMessageDeflate: false });
    let isOpen = false;
    socket.on('open', () => { isOpen = true; opened++; sockets.push(socket); resolve(); });
    socket.on('error', error => { firstError ??= error.message; });
    socket.on('close', () => {
      if (isOpen) closedByServer++;
      else { failed++; resolve(); }
    });
  });
}

async function opener() {
  while (next < count) await openOne(next++);
}

await Promise.all(Array.from({ length: Math.min(count, Number(concurrencyText)) }, opener));
console.log(JSON.stringify({ opened, failed, first_error: firstError }));

function finish() {
  // Counted before closing: what the server closed on its own while the sockets were held.
  console.log(JSON.stringify({ closed_by_server: closedByServer }));
  for (const socket of sockets) socket.terminate();
  process.exit(0);
}
process.on('SIGTERM', finish);
setTimeout(finish, Number(holdLimitText) * 1000);
