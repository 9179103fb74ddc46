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
//   5. after a close with 1001 (server going away) the page reconnects by itself, and
//      subscribes again to the channel chosen before
//   6. readable at 375px: no sideways scrolling, every field labelled, keyboard focus visible
//   7. the dark theme at 375px: light text on a dark page, hello works
//   8. the same page from disk is refused by a default stack (no CORS, Origin "null" refused),
//      and the error says how to allow it
//   9. the page opened from disk (file://) works against a stack started with FILE_MODE=1
//  10. channels: two users subscribe to chat.lobby; one publishes, the other sees it with the
//      sender's name, and the answer comes back; unsubscribing takes the channel off the list
//  11. POST /api/publish/ (the key from make run's state folder) to user.<id> appears on that
//      user's page as from "server"; JSON data is shown as JSON
//  12. a forbidden subscribe (secret.room, someone else's user.<id>), an invalid name and a
//      forbidden publish are shown in words; the socket stays open
//  13. a signed subscribe (HMAC of "<id>:<channel>" under the channel secret) to a channel
//      outside the public ones; a wrong signature is refused
//  14. the channels panel in the dark theme at 375px, with a gap notice, a delivery through a
//      server-side group_add ("via": "reply_channel", no channel name) and an "unavailable"
//      error (all injected into the real socket)
//
// The stack is make run's: it starts its own redis-server, with chat.* public and publishable.
//
// Prints "ok - ..." / "not ok - ..." lines and ends with "browser: N passed, N failed, N
// skipped". Run by run.sh beside it, which installs playwright-core first. Environment:
// TOKENAUTH_BIN (binaries, default build/asan), TOKENAUTH_EXT (tokenauth.so), TOKENAUTH_TEST_OUT,
// CHROMIUM (default /usr/bin/chromium).
import { execFileSync, spawn } from "node:child_process";
import crypto from "node:crypto";
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
// Bounds of a hang, not expectations: a correct step returns as soon as its state holds, and a
// loaded host (other suites beside this one) may take many seconds for one (harness.HANG_S).
const STEP_MS = 60000;    // an action or a wait in the page
const CASE_MS = 300000;   // a whole case

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

// Runs steps(page, ...) on one fresh page per name in shotNames; whether they pass or fail, each
// page's screenshot is then saved as <n>-<its name>.png, in that order, and the page closed.
async function withPages(context, shotNames, steps) {
  const pages = [];
  try {
    for (const _ of shotNames) pages.push(await newPage(context));
    return await steps(...pages);
  } finally {
    for (const [i, page] of pages.entries()) {
      await screenshot(page, shotNames[i]).catch(() => {});
      await page.close();
    }
  }
}

const withPage = (context, shotName, steps) => withPages(context, [shotName], steps);

// A URL on the stack's lighttpd: the page by default; "" for the bare origin.
function stackUrl(stack, pathname = "/") {
  return `http://127.0.0.1:${stack.port}${pathname}`;
}

async function logIn(page, username, password) {
  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.click("#login");
}

async function waitOpen(page) {
  await page.waitForSelector('body[data-socket="open"]', { state: "attached" });
}

// The login error, once the page shows it.
async function loginError(page) {
  await page.waitForSelector("#login-error:not([hidden])");
  return page.textContent("#login-error");
}

// The stack's page, logged in through its form, its socket open.
async function openLoggedIn(page, stack, username, password) {
  await page.goto(stackUrl(stack));
  await logIn(page, username, password);
  await waitOpen(page);
}

// The page opened from disk (file://), pointed at the stack in its settings; resolves with the
// API base the page offered before.
async function openFromDisk(page, stack) {
  await page.goto("file://" + path.join(ROOT, "www", "index.html"));
  const offered = await page.inputValue("#api-base");
  await page.click("#settings summary");
  await page.fill("#api-base", stackUrl(stack, ""));
  return offered;
}

// Phone width (375 px), in the dark theme (prefers-color-scheme: dark) when dark.
async function asPhone(page, dark) {
  if (dark) await page.emulateMedia({ colorScheme: "dark" });
  await page.setViewportSize({ width: 375, height: 800 });
}

// Relays every WebSocket the page opens to the server through playwright, which lets the test
// close the page's side or send it frames; returns the routes, one per socket, as they come.
async function routeSockets(page) {
  const routed = [];
  await page.routeWebSocket(/^ws:/, (ws) => {
    ws.connectToServer();
    routed.push(ws);
  });
  return routed;
}

async function waitLog(page, cls, text) {
  await page.waitForFunction(([c, t]) => Array.from(document.querySelectorAll(`#log li.${c}`))
    .some((li) => li.textContent.includes(t)), [cls, text]);
}

// Waits until the element with that id shows text (options: playwright's, as a timeout).
async function waitText(page, id, text, options) {
  await page.waitForFunction(([i, t]) => document.getElementById(i).textContent.includes(t),
    [id, text], options);
}

// The hello button, and its answer in the log.
async function sayHello(page) {
  await page.click("#hello");
  await waitLog(page, "received", HELLO_REPLY);
}

// The ids of the form fields that have no label.
async function unlabelledFields(page) {
  return page.evaluate(() => Array.from(document.querySelectorAll("input, textarea, select"))
    .filter((e) => e.labels.length === 0).map((e) => e.id));
}

// The sqlite3 shell on the stack's database; returns its output, trimmed.
function sqlite(stack, commands, env = process.env) {
  return execFileSync("sqlite3", [stack.db, ...commands], { env }).toString().trim();
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
  await withPage(context, "login-hello", async (page) => {
    await openLoggedIn(page, stack, "suraj", "123");
    await sayHello(page);
    const token = sqlite(stack, ["SELECT key FROM authtoken_token t JOIN " +
      "auth_user u ON u.id = t.user_id WHERE u.username = 'suraj';"]);
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
    const origin = stackUrl(stack);
    const foreign = page.requests.filter((u) => !u.startsWith(origin));
    expect(foreign.length === 0, `nothing fetched from elsewhere: ${foreign}`);
    expect(page.requests.some((u) => u.endsWith("/app.js")) &&
      page.requests.some((u) => u.endsWith("/app.css")), `app.js and app.css are loaded`);
  });
}

async function caseWrongPassword(context, stack) {
  await withPage(context, "wrong-password", async (page) => {
    await page.goto(stackUrl(stack));
    await logIn(page, "suraj", "not-the-password");
    const error = await loginError(page);
    expect(error.includes("There is no user with this username and password !"),
      `the error is shown: ${error}`);
    const tokenState = await page.getAttribute("body", "data-token");
    expect(tokenState === "none", `no token is kept (${tokenState})`);
    expect(page.sockets.length === 0, `no socket opened (${page.sockets.map((s) => s.url())})`);
  });
}

async function caseLogout(context, stack) {
  await withPage(context, "logout", async (page) => {
    await openLoggedIn(page, stack, "testuserone", "testing123");
    await page.click("#logout");
    await waitText(page, "close-reason", "your session was revoked");
    const reason = await page.textContent("#close-reason");
    expect(reason.includes("4401") && reason.includes("token revoked"),
      `the code and the server's reason are shown: ${reason}`);
    expect(await page.getAttribute("body", "data-socket") === "closed", "the socket is closed");
    expect(await page.getAttribute("body", "data-token") === "none", "the token is forgotten");
    expect(await page.isDisabled("#connect"), "no reconnecting with a revoked token");
    expect(await page.isHidden("#channels-section"), "the channels panel goes with the login");
    expect(page.sockets.length === 1, `one socket only, no reconnect (${page.sockets.length})`);
  });
}

async function caseSqliteDelete(context, stack) {
  await withPage(context, "sqlite-delete", async (page) => {
    await openLoggedIn(page, stack, "suraj", "123");
    // What an admin types at the sqlite3 prompt (docs/admin.md, recipe revoke-token).
    sqlite(stack, ["DELETE FROM authtoken_token WHERE user_id = " +
      "(SELECT id FROM auth_user WHERE username = 'suraj');"]);
    await waitText(page, "close-reason", "4401");
    const reason = await page.textContent("#close-reason");
    expect(reason.includes("your session was revoked") && reason.includes("token revoked"),
      `the reason is shown: ${reason}`);
    expect(page.sockets.length === 1, `no reconnect (${page.sockets.length} sockets)`);
  });
}

// The network path is real; only the first close comes from the test: playwright's
// routeWebSocket relays the page's socket to ws-worker and then closes the page's side with
// 1001, as a server going away would.
async function caseReconnect(context, stack) {
  await withPage(context, "reconnect", async (page) => {
    const routed = await routeSockets(page);
    await openLoggedIn(page, stack, "testuserone", "testing123");
    expect(routed.length === 1, `one socket at first (${routed.length})`);
    await join(page, "chat.lobby");
    await routed[0].close({ code: 1001, reason: "going away" });
    await waitText(page, "close-reason", "Reconnecting");
    const reason = await page.textContent("#close-reason");
    expect(reason.includes("server going away") && reason.includes("1001"),
      `the close is shown in words: ${reason}`);
    await page.waitForFunction(() => document.body.dataset.socket === "open" &&
      document.getElementById("close-reason").textContent === "");
    expect(routed.length === 2, `reconnected once (${routed.length} sockets)`);
    await sayHello(page);
    // The new socket is subscribed again to the channel the user chose on the first one.
    await waitSubscribed(page, "chat.lobby");
  });
}

async function casePhoneWidth(context, stack) {
  await withPage(context, "phone-width", async (page) => {
    await asPhone(page, false);
    await page.goto(stackUrl(stack));
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width <= 375, `no sideways scrolling at 375px (content is ${width}px wide)`);
    const unlabelled = await unlabelledFields(page);
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
  });
}

// The dark theme (prefers-color-scheme: dark) at phone width: light text on a dark page, the
// same controls, nothing sideways.
async function caseDarkPhone(context, stack) {
  await withPage(context, "dark-phone", async (page) => {
    await asPhone(page, true);
    await openLoggedIn(page, stack, "suraj", "123");
    await sayHello(page);
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
  });
}

async function caseFileMode(context, stack) {
  await withPage(context, "file-mode", async (page) => {
    const base = await openFromDisk(page, stack);
    expect(base === "http://localhost:8000", `from disk the API base is the tutorial's (${base})`);
    await logIn(page, "suraj", "123");
    await waitOpen(page);
    await sayHello(page);
  });
}

async function caseFileRefused(context, stack) {
  await withPage(context, "file-refused", async (page) => {
    await openFromDisk(page, stack);
    await logIn(page, "suraj", "123");
    const error = await loginError(page);
    expect(error.includes("Cannot reach the server") && error.includes("FILE_MODE=1"),
      `the login is refused, with the way out: ${error}`);
    expect(page.sockets.length === 0, "no socket opened");
  });
}

// Channels. ---------------------------------------------------------------------------------

// Logged in with the socket open and the personal channel known (the page asks for its
// subscriptions as the socket opens).
async function openChat(page, stack, username, password) {
  await openLoggedIn(page, stack, username, password);
  await page.waitForFunction(() =>
    /^user\.\d+ /.test(document.getElementById("personal-channel").textContent));
}

async function subscribeTo(page, channel, signature) {
  await page.fill("#subscribe-channel", channel);
  await page.fill("#subscribe-signature", signature || "");
  await page.click("#subscribe");
}

async function waitSubscribed(page, channel) {
  await page.waitForSelector(`#subscriptions li[data-channel="${channel}"]`);
}

// Subscribes through the panel and waits until the channel is listed.
async function join(page, channel, signature) {
  await subscribeTo(page, channel, signature);
  await waitSubscribed(page, channel);
}

// Publishes text to channel from the panel's publish form, by its button.
async function publishFrom(page, channel, text) {
  await page.fill("#publish-channel", channel);
  await page.fill("#publish-text", text);
  await page.click("#publish");
}

// Resolves with the entry of #channel-messages on channel whose text includes text.
async function waitDelivery(page, channel, text) {
  await page.waitForFunction(([c, t]) => Array.from(
    document.querySelectorAll("#channel-messages li")).some((li) =>
    li.dataset.channel === c && li.querySelector(".msg-text").textContent.includes(t)),
  [channel, text]);
  return page.evaluate(([c, t]) => {
    const li = Array.from(document.querySelectorAll("#channel-messages li")).find((e) =>
      e.dataset.channel === c && e.querySelector(".msg-text").textContent.includes(t));
    return { kind: li.className, channel: li.querySelector(".msg-channel").textContent,
      from: li.querySelector(".msg-from").textContent,
      text: li.querySelector(".msg-text").textContent };
  }, [channel, text]);
}

function userId(stack, username) {
  return sqlite(stack, [`SELECT id FROM auth_user WHERE username = '${username}';`]);
}

// POST /api/publish/ as the application's servers do, with the key make run made.
async function httpPublish(stack, channel, data) {
  const key = fs.readFileSync(path.join(stack.runDir, "publish-key"), "utf8").trim();
  const resp = await fetch(stackUrl(stack, "/api/publish/"), {
    method: "POST", body: JSON.stringify({ channel, data }),
    headers: { "Authorization": `Bearer ${key}`, "Content-Type": "application/json" },
  });
  return { status: resp.status, body: await resp.text() };
}

async function caseChatLobby(context, stack) {
  const shots = ["chat-lobby-suraj", "chat-lobby-testuserone"];
  await withPages(context, shots, async (alice, bob) => {
    await openChat(alice, stack, "suraj", "123");
    await openChat(bob, stack, "testuserone", "testing123");
    for (const page of [alice, bob]) await join(page, "chat.lobby");
    const status = await alice.textContent("#channel-status");
    expect(status.includes("Subscribed to chat.lobby"), `the page says so: ${status}`);
    expect(await alice.inputValue("#publish-channel") === "chat.lobby",
      "the publish field offers the channel just joined");
    await alice.fill("#publish-text", "hello from suraj");
    await alice.press("#publish-text", "Enter");
    await waitText(alice, "channel-status", "Published to chat.lobby");
    const got = await waitDelivery(bob, "chat.lobby", "hello from suraj");
    expect(got.from === "suraj" && got.channel === "chat.lobby" && got.kind === "delivery",
      `the other page shows it with the sender's name: ${JSON.stringify(got)}`);
    await publishFrom(bob, "chat.lobby", "hi suraj, testuserone here");
    const back = await waitDelivery(alice, "chat.lobby", "hi suraj, testuserone here");
    expect(back.from === "testuserone", `and the answer comes back: ${JSON.stringify(back)}`);
    expect(await alice.inputValue("#publish-text") === "", "the message field is emptied");
    // Unsubscribing takes the channel off the list; the personal channel has no such button.
    await bob.click('#subscriptions li[data-channel="chat.lobby"] button');
    await bob.waitForSelector('#subscriptions li[data-channel="chat.lobby"]', { state: "detached" });
    const personal = await bob.$$('#subscriptions li[data-channel^="user."] button');
    expect(personal.length === 0, "the personal channel cannot be left from the page");
    for (const page of [alice, bob]) {
      expect(page.consoleErrors.length === 0, `no page errors: ${page.consoleErrors}`);
    }
  });
}

async function casePublishHttp(context, stack) {
  await withPage(context, "publish-http", async (page) => {
    await openChat(page, stack, "suraj", "123");
    const id = userId(stack, "suraj");
    const personal = await page.textContent("#personal-channel");
    expect(personal.startsWith(`user.${id} `), `the personal channel is user.${id}: ${personal}`);
    await waitSubscribed(page, `user.${id}`);
    const r = await httpPublish(stack, `user.${id}`, "your report is ready");
    expect(r.status === 200, `POST /api/publish/ answers 200: ${r.status} ${r.body}`);
    const got = await waitDelivery(page, `user.${id}`, "your report is ready");
    expect(got.from === "server", `a server's publication shows as from "server": ${JSON.stringify(got)}`);
    // Data that is not text is shown as JSON.
    const r2 = await httpPublish(stack, `user.${id}`, { done: 3, of: 4 });
    expect(r2.status === 200, `a JSON object is published too: ${r2.status} ${r2.body}`);
    await waitDelivery(page, `user.${id}`, '{"done":3,"of":4}');
  });
}

async function caseChannelErrors(context, stack) {
  await withPage(context, "channel-errors", async (page) => {
    await openChat(page, stack, "testuserone", "testing123");
    const errorHas = (text) => waitText(page, "channel-error", text);
    await page.fill("#publish-channel", "");
    await page.click("#publish");
    let error = await page.textContent("#channel-error");
    expect(error === "Enter a channel name.", `an empty channel is caught by the page: ${error}`);
    await subscribeTo(page, "no spaces!");
    await errorHas("Cannot subscribe to no spaces!: not a channel name");
    // Someone else's personal channel is forbidden, signature or not.
    const other = `user.${userId(stack, "suraj")}`;
    await subscribeTo(page, other);
    await errorHas(`Cannot subscribe to ${other}: not allowed (`);
    // Publishing outside the publishable channels.
    await publishFrom(page, "news.today", "breaking");
    await errorHas("Cannot publish to news.today: not allowed (");
    // Last, so that the screenshot shows it: a channel that is not public.
    await subscribeTo(page, "secret.room");
    await errorHas("Cannot subscribe to secret.room: not allowed (");
    error = await page.textContent("#channel-error");
    expect(/\(.+\)\.$/.test(error), `the server's detail follows in brackets: ${error}`);
    expect(await page.getAttribute("body", "data-socket") === "open", "the socket stays open");
    const subs = await page.$$eval("#subscriptions li", (lis) => lis.map((li) => li.dataset.channel));
    expect(subs.length === 1 && /^user\.\d+$/.test(subs[0]), `still only the personal channel: ${subs}`);
  });
}

// A channel outside the public patterns opens with the application's signature: HMAC-SHA256
// of "<user id>:<channel>" under the channel secret make run keeps in its state folder, made as
// docs/run.md shows, by sign_channel at the sqlite3 prompt (and checked against node's HMAC).
async function caseSignedSubscribe(context, stack) {
  await withPage(context, "signed-subscribe", async (page) => {
    await openChat(page, stack, "suraj", "123");
    const secret = fs.readFileSync(path.join(stack.runDir, "channel-secret"), "utf8").trim();
    const id = userId(stack, "suraj");
    const signature = sqlite(stack, [`.load ${EXT}`, `SELECT sign_channel(${id}, 'team.blue');`],
      { ...process.env, TOKENAUTH_CHANNEL_SECRET: secret });
    const expected = crypto.createHmac("sha256", secret).update(`${id}:team.blue`).digest("hex");
    expect(signature === expected, `sign_channel gives the HMAC (${signature})`);
    await subscribeTo(page, "team.blue", "0".repeat(64));
    await waitText(page, "channel-error", "Cannot subscribe to team.blue");
    await join(page, "team.blue", signature);
    expect(await page.isHidden("#channel-error"), "the error is gone once subscribed");
    const r = await httpPublish(stack, "team.blue", "for the blue team");
    expect(r.status === 200, `published: ${r.status} ${r.body}`);
    await waitDelivery(page, "team.blue", "for the blue team");
  });
}

// The dark theme at phone width with the panel in use; a gap notice (sent after a Redis outage)
// is injected into the real socket through playwright's WebSocket routing, the rest is real.
async function caseChannelsDarkPhone(context, stack) {
  await withPage(context, "channels-dark-phone", async (page) => {
    const routed = await routeSockets(page);
    await asPhone(page, true);
    await openLoggedIn(page, stack, "suraj", "123");
    await join(page, "chat.lobby");
    // Into the channel the publish field offers, the one just joined.
    await page.fill("#publish-text", "a long message that has to wrap on a phone screen " +
      "without any sideways scrolling at all");
    await page.click("#publish");
    await waitDelivery(page, "chat.lobby", "sideways");
    routed[0].send(JSON.stringify({ channel: "chat.lobby", gap: true }));
    const gap = await waitDelivery(page, "chat.lobby", "may have been lost");
    expect(gap.kind === "gap", `the gap notice is shown as one: ${JSON.stringify(gap)}`);
    // The core layer's delivery through a group Django added the socket to: no channel name.
    routed[0].send(JSON.stringify({ via: "reply_channel", data: { type: "chat.note", n: 2 } }));
    const via = await waitDelivery(page, "(server-side group)", '"chat.note"');
    expect(via.kind === "delivery" && via.from === "server",
      `a via reply_channel delivery is listed under (server-side group): ${JSON.stringify(via)}`);
    // The answer to a subscribe while Redis is away, in words.
    routed[0].send(JSON.stringify({ error: "unavailable", channel: "chat.news",
      detail: "Redis is unreachable; try again later" }));
    await waitText(page, "channel-error", "Cannot use chat.news: channels are unavailable right now");
    const look = await page.evaluate(() => ({
      width: document.documentElement.scrollWidth,
      live: document.getElementById("channel-messages").getAttribute("aria-live"),
    }));
    const unlabelled = await unlabelledFields(page);
    expect(look.width <= 375, `no sideways scrolling (${look.width}px)`);
    expect(look.live === "polite", `incoming messages are announced (aria-live ${look.live})`);
    expect(unlabelled.length === 0, `every field has a label (not: ${unlabelled})`);
    // The filter shows one channel at a time.
    await page.selectOption("#channel-filter", "chat.lobby");
    const shown = await page.$$eval("#channel-messages li:not([hidden])", (l) => l.length);
    expect(shown >= 2, `the chat.lobby messages stay shown (${shown})`);
  });
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
    await runCase("two users chat in chat.lobby, each message shown with its sender",
      () => caseChatLobby(context, stack));
    await runCase("POST /api/publish/ to user.<id> appears on that user's page",
      () => casePublishHttp(context, stack));
    await runCase("forbidden and invalid channels are shown in words, the socket stays open",
      () => caseChannelErrors(context, stack));
    await runCase("a signed subscribe opens a channel outside the public ones",
      () => caseSignedSubscribe(context, stack));
    await runCase("the channels panel in the dark theme at 375px shows a gap notice",
      () => caseChannelsDarkPhone(context, stack));
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
