// Time from navigation to the first page of tasks in the dashboard, in the installed Chromium, over the Chrome DevTools
// Protocol (no browser download, no Playwright). Signs in through the page's own cookie endpoint, then loads the
// project's task page LOADS times; each load's figure is performance.now() (milliseconds since the navigation started)
// at the moment the first task row is in the DOM, recorded in the page by a MutationObserver installed before any of the
// app's scripts run. The first load runs with an empty cache; the others reuse the hashed, immutable assets.
// Usage: node load/dashboard-bench.mjs <base url> <email> <password> <project id> <loads> <chromium>
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";

const [baseUrl, email, password, projectId, loadsText, chromium] = process.argv.slice(2);
const loads = Number(loadsText);
const profile = mkdtempSync(join(tmpdir(), "dashboard-bench-"));
const browser = spawn(chromium, ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
  "--remote-debugging-port=0", `--user-data-dir=${profile}`, "about:blank"], { stdio: "ignore" });
const deadline = setTimeout(() => fail("did not finish within 180 s"), 180_000);

function fail(message) {
  console.error(`dashboard-bench: ${message}`);
  browser.kill("SIGKILL");
  process.exit(2);
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function devToolsPort() {
  const file = join(profile, "DevToolsActivePort");
  for (let i = 0; i < 200; i++) {
    if (existsSync(file)) {
      const port = readFileSync(file, "utf8").split("\n")[0];
      if (port) return port;
    }
    await sleep(50);
  }
  fail("Chromium did not open its DevTools port");
}

function connect(url) {
  const socket = new WebSocket(url, { perMessageDeflate: false });
  let next = 0;
  const pending = new Map();
  socket.on("message", (data) => {
    const message = JSON.parse(data.toString());
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(JSON.stringify(message.error)));
    else waiter.resolve(message.result);
  });
  const send = (method, params = {}) => new Promise((resolve, reject) => {
    const id = ++next;
    pending.set(id, { resolve, reject });
    socket.send(JSON.stringify({ id, method, params }));
  });
  return new Promise((resolve, reject) => {
    socket.once("open", () => resolve({ send, close: () => socket.close() }));
    socket.once("error", reject);
  });
}

async function evaluate(page, expression) {
  const result = await page.send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true });
  if (result.exceptionDetails) throw new Error(result.exceptionDetails.text);
  return result.result.value;
}

async function waitFor(page, expression, what) {
  for (let i = 0; i < 1500; i++) {
    const value = await evaluate(page, expression);
    if (value !== null && value !== undefined && value !== false) return value;
    await sleep(10);
  }
  fail(`timed out waiting for ${what}`);
}

const port = await devToolsPort();
const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
const pageTarget = targets.find((target) => target.type === "page");
if (!pageTarget) fail("no page target");
const page = await connect(pageTarget.webSocketDebuggerUrl);
await page.send("Page.enable");
await page.send("Runtime.enable");
await page.send("Page.addScriptToEvaluateOnNewDocument", { source: `
  new MutationObserver((changes, observer) => {
    if (document.querySelector("tr[data-task-id]")) { window.__firstTaskRow = performance.now(); observer.disconnect(); }
  }).observe(document, { childList: true, subtree: true });` });

await page.send("Page.navigate", { url: `${baseUrl}/` });
await waitFor(page, "document.readyState === 'complete'", "the sign-in page");
const status = await evaluate(page, `fetch("/api/v1/auth/browser/login", { method: "POST", credentials: "same-origin",
  headers: { "X-TaskRunner-Csrf": "1", "Content-Type": "application/json" },
  body: JSON.stringify({ email: ${JSON.stringify(email)}, password: ${JSON.stringify(password)} }) }).then((r) => r.status)`);
if (status !== 200) fail(`sign-in answered ${status}`);

const times = [];
for (let i = 0; i < loads; i++) {
  if (i === 0) await page.send("Network.clearBrowserCache").catch(() => {});
  await page.send("Page.navigate", { url: `${baseUrl}/projects/${projectId}` });
  times.push(await waitFor(page, "window.__firstTaskRow ?? null", "the first task row"));
  const rows = await evaluate(page, "document.querySelectorAll('tr[data-task-id]').length");
  if (rows < 1) fail("no task rows");
}
clearTimeout(deadline);
page.close();
const exited = new Promise((resolve) => browser.once("exit", resolve));
browser.kill();
await exited;
rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
const warm = times.slice(1).sort((a, b) => a - b);
const at = (q) => warm[Math.min(warm.length - 1, Math.ceil(q * warm.length) - 1)];
console.log(JSON.stringify({ first_load_ms: Math.round(times[0]), warm_p50_ms: Math.round(at(0.5)),
  warm_p95_ms: Math.round(at(0.95)), warm_max_ms: Math.round(warm[warm.length - 1]), loads }));
