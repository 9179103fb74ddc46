// browser.mjs -- the demo client in a real browser: headless Chromium (Debian's /usr/bin/chromium)
// driven by playwright-core, against the stack scripts/run.sh starts (lighttpd + login-fcgi +
// ws-worker, the same as `make run`) on free loopback ports with a temporary database.
//
// Cases, each saving a screenshot to $TOKENAUTH_TEST_OUT/browser/<n>-<case>.png as it ends
// (passed or failed):
//   1. log in through the page, the socket opens without the token in its URL, hello round trip
//   2. a wrong password shows the error and opens no socket
//   3. logout: the server closes the socket with 4401 and the page shows the reason, no reconnect
//   4. the token deleted at the sqlite3 prompt closes the open page's socket within seconds
//   5. after a close with 1001 (server going away) the page reconnects by itself
//   6. readable at 375px: no sideways scrolling, every field labelled, keyboard focus visible
//   7. the dark theme at 375px: light text on a dark page, hello works
//   8. the same page from disk is refused by a default stack (no CORS, Origin "null" refused),
//      and the error says how to allow it
//   9. the page opened from disk (file://) works against a stack started with FILE_MODE=1
//
// Prints "ok - ..." / "not ok - ..." lines and ends with "browser: N passed, N failed, N
// skipped". Run by run.sh beside it, which installs playwright-core first. Environment:
// TOKENAUTH_BIN (binaries, default build/asan), TOKENAUTH_EXT (tokenauth.so), TOKENAUTH_TEST_OUT,
// CHROMIUM (default /usr/bin/chromium).
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");
const BIN_DIR = process.env.TOKENAUTH_BIN || path.join(ROOT, "build", "asan");
const EXT = process.env.TOKENAUTH_EXT || path.join(ROOT, "build", "tokenauth.so");
const OUT = path.join(process.env.TOKENAUTH_TEST_OUT || path.join(ROOT, "tests", "out"), "browser");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
  "--no-first-run", "--disable-background-networking", "--disable-component-update",
  "--disable-sync"];
const HELLO_REPLY = "The command to say hello was received ";
const STEP_MS = 15000;    // an action or a wait in the page
const CASE_MS = 60000;    // a whole case

// run.sh's own cases (its self-check without Chromium) count in this suite's closing line.
const counts = { passed: Number(process.env.BROWSER_PRE_PASSED) || 0,
  failed: Number(process.env.BROWSER_PRE_FAILED) || 0, skipped: 0 };
const stacks = [];
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "tokenauth-browser-"));
fs.mkdirSync(OUT, { recursive: true });
for (const f of fs.readdirSync(OUT)) {
  if (f.endsWith(".png")) fs.rmSync(path.join(OUT, f)); // screenshots of an earlier run
}

function report(ok, name, detail) {
  counts[ok ? "passed" : "failed"] += 1;
  console.log(`${ok ? "ok" : "not ok"} - ${name}`);
  if (!ok && detail) {
    console.log(String(detail).split("\n").map((l) => "  " + l).join("\n"));
  }
}

function finish() {
  console.log(`browser: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
}

// A port free on 127.0.0.1 right now (the kernel picks it).
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function accepts(port) {
  return new Promise((resolve) => {
    const c = net.connect({ port, host: "127.0.0.1" });
    c.on("connect", () => { c.destroy(); resolve(true); });
    c.on("error", () => resolve(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts scripts/run.sh (what `make run` runs) in its own process group; resolves once lighttpd
// accepts. fileMode: FILE_MODE=1 (CORS * and allowed hosts *, for the page opened from disk).
async function startStack(name, fileMode) {
  const port = await freePort();
  let wsPort = await freePort();
  while (wsPort === port) wsPort = await freePort();
  const runDir = path.join(TMP, name);
  const log = fs.openSync(path.join(OUT, `stack-${name}.log`), "w");
  const env = { ...process.env, PORT: String(port), WS_PORT: String(wsPort), RUN_DIR: runDir,
    BIN_DIR, EXT, FILE_MODE: fileMode ? "1" : "0", TOKENAUTH_PASSWORD_ITERATIONS: "1000" };
  delete env.TOKENAUTH_CORS_ORIGINS;
  delete env.TOKENAUTH_ALLOWED_HOSTS;
  const child = spawn("bash", [path.join(ROOT, "scripts", "run.sh")],
    { env, detached: true, stdio: ["ignore", log, log] });
  const stack = { name, port, wsPort, runDir, child, db: path.join(runDir, "tokenauth.sqlite3"),
    exited: false };
  child.on("exit", () => { stack.exited = true; });
  stacks.push(stack);
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    if (stack.exited) throw new Error(`scripts/run.sh exited at start: see ${OUT}/stack-${name}.log`);
    if (await accepts(port)) return stack;
    await sleep(100);
  }
  throw new Error(`the ${name} stack does not accept on 127.0.0.1:${port} after 60 s`);
}

// SIGTERM to run.sh, which stops lighttpd (and its login-fcgi) and ws-worker and waits.
async function stopStack(stack) {
  if (stack.exited) return;
  try { process.kill(stack.child.pid, "SIGTERM"); } catch { return; }
  const deadline = Date.now() + 10000;
  while (!stack.exited && Date.now() < deadline) await sleep(50);
  if (!stack.exited) {
    try { process.kill(-stack.child.pid, "SIGKILL"); } catch { /* gone */ }
  }
  // Keep the stack's own logs (lighttpd, login-fcgi, ws-worker) for a look after a failure.
  for (const f of fs.existsSync(stack.runDir) ? fs.readdirSync(stack.runDir) : []) {
    if (f.endsWith(".log")) {
      fs.copyFileSync(path.join(stack.runDir, f), path.join(OUT, `stack-${stack.name}-${f}`));
    }
  }
}

process.on("exit", () => {
  for (const s of stacks) {
    if (!s.exited) {
      try { process.kill(-s.child.pid, "SIGKILL"); } catch { /* gone */ }
    }
  }
  fs.rmSync(TMP, { recursive: true, force: true });
});

// A fresh page that records every WebSocket it opens.
async function newPage(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.sockets = [];
  page.on("websocket", (ws) => page.sockets.push(ws));
  page.requests = [];
  page.on("request", (req) => page.requests.push(req.url()));
  page.consoleErrors = [];
  page.on("pageerror", (err) => page.consoleErrors.push(String(err)));
  return page;
}

async function logIn(page, username, password) {
  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.click("#login");
}

async function waitOpen(page) {
  await page.waitForSelector('body[data-socket="open"]', { state: "attached" });
}

async function waitLog(page, cls, text) {
  await page.waitForFunction(([c, t]) => Array.from(document.querySelectorAll(`#log li.${c}`))
    .some((li) => li.textContent.includes(t)), [cls, text]);
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

let shot = 0;
async function screenshot(page, name) {
  shot += 1;
  const file = path.join(OUT, `${shot}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
}

async function runCase(name, fn) {
  let timer;
  try {
    await Promise.race([fn(), new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`took over ${CASE_MS / 1000} s`)), CASE_MS);
    })]);
    report(true, name);
  } catch (err) {
    report(false, name, err && err.stack ? err.stack : err);
  } finally {
    clearTimeout(timer);
  }
}

async function caseLoginHello(context, stack) {
  const page = await newPage(context);
  try {
    await page.goto(`http://127.0.0.1:${stack.port}/`);
    await logIn(page, "suraj", "123");
    await waitOpen(page);
    await page.click("#hello");
    await waitLog(page, "received", HELLO_REPLY);
    const token = execFileSync("sqlite3", [stack.db, "SELECT key FROM authtoken_token t JOIN " +
      "auth_user u ON u.id = t.user_id WHERE u.username = 'suraj';"]).toString().trim();
    expect(token.length === 40, `suraj has a token (${token})`);
    const urls = page.sockets.map((ws) => ws.url());
    expect(urls.length === 1, `one socket opened (${urls.join(", ")})`);
    expect(!urls[0].includes(token) && !urls[0].includes("token="),
      `the socket URL carries no token: ${urls[0]}`);
    const pageText = await page.textContent("body");
    expect(!pageText.includes(token), "the page never shows the whole token");
    expect(await page.isDisabled("#username") && await page.isDisabled("#password"),
      "the login fields are disabled while logged in");
    // Ctrl+Enter in the command field sends it, as the help line says.
    await page.fill("#command", '{"command": "whoami"}');
    await page.press("#command", "Control+Enter");
    await waitLog(page, "sent", '{"command": "whoami"}');
    await waitLog(page, "received", "suraj");
    expect(page.consoleErrors.length === 0, `no page errors: ${page.consoleErrors}`);
    // Offline-ready: everything the page loads comes from the stack itself (no CDN).
    const origin = `http://127.0.0.1:${stack.port}/`;
    const foreign = page.requests.filter((u) => !u.startsWith(origin));
    expect(foreign.length === 0, `nothing fetched from elsewhere: ${foreign}`);
    expect(page.requests.some((u) => u.endsWith("/app.js")) &&
      page.requests.some((u) => u.endsWith("/app.css")), `app.js and app.css are loaded`);
  } finally {
    await screenshot(page, "login-hello").catch(() => {});
    await page.close();
  }
}

async function caseWrongPassword(context, stack) {
  const page = await newPage(context);
  try {
    await page.goto(`http://127.0.0.1:${stack.port}/`);
    await logIn(page, "suraj", "not-the-password");
    await page.waitForSelector("#login-error:not([hidden])");
    const error = await page.textContent("#login-error");
    expect(error.includes("There is no user with this username and password !"),
      `the error is shown: ${error}`);
    const tokenState = await page.getAttribute("body", "data-token");
    expect(tokenState === "none", `no token is kept (${tokenState})`);
    expect(page.sockets.length === 0, `no socket opened (${page.sockets.map((s) => s.url())})`);
  } finally {
    await screenshot(page, "wrong-password").catch(() => {});
    await page.close();
  }
}

async function caseLogout(context, stack) {
  const page = await newPage(context);
  try {
    await page.goto(`http://127.0.0.1:${stack.port}/`);
    await logIn(page, "testuserone", "testing123");
    await waitOpen(page);
    await page.click("#logout");
    await page.waitForFunction(() =>
      document.getElementById("close-reason").textContent.includes("your session was revoked"));
    const reason = await page.textContent("#close-reason");
    expect(reason.includes("4401") && reason.includes("token revoked"),
      `the code and the server's reason are shown: ${reason}`);
    expect(await page.getAttribute("body", "data-socket") === "closed", "the socket is closed");
    expect(await page.getAttribute("body", "data-token") === "none", "the token is forgotten");
    expect(await page.isDisabled("#connect"), "no reconnecting with a revoked token");
    expect(page.sockets.length === 1, `one socket only, no reconnect (${page.sockets.length})`);
  } finally {
    await screenshot(page, "logout").catch(() => {});
    await page.close();
  }
}

async function caseSqliteDelete(context, stack) {
  const page = await newPage(context);
  try {
    await page.goto(`http://127.0.0.1:${stack.port}/`);
    await logIn(page, "suraj", "123");
    await waitOpen(page);
    // What an admin types at the sqlite3 prompt (docs/admin.md, recipe revoke-token).
    execFileSync("sqlite3", [stack.db, "DELETE FROM authtoken_token WHERE user_id = " +
      "(SELECT id FROM auth_user WHERE username = 'suraj');"]);
    await page.waitForFunction(() =>
      document.getElementById("close-reason").textContent.includes("4401"), null,
    { timeout: 10000 });
    const reason = await page.textContent("#close-reason");
    expect(reason.includes("your session was revoked") && reason.includes("token revoked"),
      `the reason is shown: ${reason}`);
    expect(page.sockets.length === 1, `no reconnect (${page.sockets.length} sockets)`);
  } finally {
    await screenshot(page, "sqlite-delete").catch(() => {});
    await page.close();
  }
}

// The network path is real; only the first close comes from the test: playwright's
// routeWebSocket relays the page's socket to ws-worker and then closes the page's side with
// 1001, as a server going away would.
async function caseReconnect(context, stack) {
  const page = await newPage(context);
  const routed = [];
  try {
    await page.routeWebSocket(/^ws:/, (ws) => {
      ws.connectToServer();
      routed.push(ws);
    });
    await page.goto(`http://127.0.0.1:${stack.port}/`);
    await logIn(page, "testuserone", "testing123");
    await waitOpen(page);
    expect(routed.length === 1, `one socket at first (${routed.length})`);
    await routed[0].close({ code: 1001, reason: "going away" });
    await page.waitForFunction(() =>
      document.getElementById("close-reason").textContent.includes("Reconnecting"));
    const reason = await page.textContent("#close-reason");
    expect(reason.includes("server going away") && reason.includes("1001"),
      `the close is shown in words: ${reason}`);
    await page.waitForFunction(() => document.body.dataset.socket === "open" &&
      document.getElementById("close-reason").textContent === "");
    expect(routed.length === 2, `reconnected once (${routed.length} sockets)`);
    await page.click("#hello");
    await waitLog(page, "received", HELLO_REPLY);
  } finally {
    await screenshot(page, "reconnect").catch(() => {});
    await page.close();
  }
}

async function casePhoneWidth(context, stack) {
  const page = await newPage(context);
  try {
    await page.setViewportSize({ width: 375, height: 800 });
    await page.goto(`http://127.0.0.1:${stack.port}/`);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width <= 375, `no sideways scrolling at 375px (content is ${width}px wide)`);
    const unlabelled = await page.evaluate(() =>
      Array.from(document.querySelectorAll("input, textarea, select"))
        .filter((e) => e.labels.length === 0).map((e) => e.id));
    expect(unlabelled.length === 0, `every field has a label (not: ${unlabelled})`);
    await page.keyboard.press("Tab");
    const focus = await page.evaluate(() => {
      const e = document.activeElement;
      const s = getComputedStyle(e);
      return { id: e.id, style: s.outlineStyle, width: s.outlineWidth };
    });
    expect(focus.id === "username", `Tab reaches the username field first (${focus.id})`);
    expect(focus.style !== "none" && focus.width !== "0px",
      `keyboard focus is visible (outline ${focus.style} ${focus.width})`);
    // The whole login by keyboard alone: type, Tab, type, Enter.
    await page.keyboard.type("suraj");
    await page.keyboard.press("Tab");
    await page.keyboard.type("123");
    await page.keyboard.press("Enter");
    await waitOpen(page);
    await page.click("#disconnect");
    await page.waitForSelector('body[data-socket="closed"]', { state: "attached" });
  } finally {
    await screenshot(page, "phone-width").catch(() => {});
    await page.close();
  }
}

// The dark theme (prefers-color-scheme: dark) at phone width: light text on a dark page, the
// same controls, nothing sideways.
async function caseDarkPhone(context, stack) {
  const page = await newPage(context);
  try {
    await page.emulateMedia({ colorScheme: "dark" });
    await page.setViewportSize({ width: 375, height: 800 });
    await page.goto(`http://127.0.0.1:${stack.port}/`);
    await logIn(page, "suraj", "123");
    await waitOpen(page);
    await page.click("#hello");
    await waitLog(page, "received", HELLO_REPLY);
    const look = await page.evaluate(() => {
      const lum = (c) => {
        const [r, g, b] = c.match(/[\d.]+/g).slice(0, 3).map(Number);
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      const body = getComputedStyle(document.body);
      return { bg: lum(body.backgroundColor), fg: lum(body.color),
        width: document.documentElement.scrollWidth };
    });
    expect(look.bg < 60 && look.fg > 180, `dark page, light text (${JSON.stringify(look)})`);
    expect(look.width <= 375, `no sideways scrolling (${look.width}px)`);
  } finally {
    await screenshot(page, "dark-phone").catch(() => {});
    await page.close();
  }
}

async function caseFileMode(context, stack) {
  const page = await newPage(context);
  try {
    await page.goto("file://" + path.join(ROOT, "www", "index.html"));
    const base = await page.inputValue("#api-base");
    expect(base === "http://localhost:8000", `from disk the API base is the tutorial's (${base})`);
    await page.click("#settings summary");
    await page.fill("#api-base", `http://127.0.0.1:${stack.port}`);
    await logIn(page, "suraj", "123");
    await waitOpen(page);
    await page.click("#hello");
    await waitLog(page, "received", HELLO_REPLY);
  } finally {
    await screenshot(page, "file-mode").catch(() => {});
    await page.close();
  }
}

async function caseFileRefused(context, stack) {
  const page = await newPage(context);
  try {
    await page.goto("file://" + path.join(ROOT, "www", "index.html"));
    await page.click("#settings summary");
    await page.fill("#api-base", `http://127.0.0.1:${stack.port}`);
    await logIn(page, "suraj", "123");
    await page.waitForSelector("#login-error:not([hidden])");
    const error = await page.textContent("#login-error");
    expect(error.includes("Cannot reach the server") && error.includes("FILE_MODE=1"),
      `the login is refused, with the way out: ${error}`);
    expect(page.sockets.length === 0, "no socket opened");
  } finally {
    await screenshot(page, "file-refused").catch(() => {});
    await page.close();
  }
}

async function main() {
  let chromium;
  try {
    ({ chromium } = await import("playwright-core"));
  } catch (err) {
    report(false, "playwright-core is installed", `BROWSER TESTS CANNOT RUN: ${err.message}`);
    return;
  }
  if (!fs.existsSync(CHROMIUM)) {
    report(false, "chromium is installed", `BROWSER TESTS CANNOT RUN: no ${CHROMIUM}`);
    return;
  }
  let context;
  try {
    context = await chromium.launchPersistentContext(path.join(TMP, "profile"), {
      executablePath: CHROMIUM, headless: true, chromiumSandbox: false,
      args: CHROMIUM_FLAGS, viewport: { width: 1000, height: 900 },
    });
  } catch (err) {
    report(false, "chromium starts", `BROWSER TESTS CANNOT RUN: ${err.message}`);
    return;
  }
  try {
    let stack;
    try {
      stack = await startStack("default", false);
    } catch (err) {
      report(false, "the stack starts (scripts/run.sh)", err.message);
      return;
    }
    await runCase("log in through the page and see the hello reply",
      () => caseLoginHello(context, stack));
    await runCase("a wrong password shows the error and opens no socket",
      () => caseWrongPassword(context, stack));
    await runCase("logout: the server closes the socket with 4401 and the page shows why",
      () => caseLogout(context, stack));
    await runCase("a token deleted at the sqlite3 prompt closes the page's socket",
      () => caseSqliteDelete(context, stack));
    await runCase("after 1001 (server going away) the page reconnects and works again",
      () => caseReconnect(context, stack));
    await runCase("readable at 375px, labelled fields, visible keyboard focus",
      () => casePhoneWidth(context, stack));
    await runCase("the dark theme at 375px: light text on a dark page, hello works",
      () => caseDarkPhone(context, stack));
    await runCase("a default stack refuses the page opened from disk (Origin null)",
      () => caseFileRefused(context, stack));
    await stopStack(stack);

    let fileStack;
    try {
      fileStack = await startStack("file-mode", true);
    } catch (err) {
      report(false, "the FILE_MODE=1 stack starts (scripts/run.sh)", err.message);
      return;
    }
    await runCase("the page opened from disk works against a FILE_MODE=1 stack",
      () => caseFileMode(context, fileStack));
    await stopStack(fileStack);
  } finally {
    await context.close();
    for (const s of stacks) await stopStack(s);
  }
}

main()
  .catch((err) => report(false, "browser suite", err.stack || err))
  .finally(() => {
    finish();
    process.exitCode = counts.failed === 0 ? 0 : 1;
  });
