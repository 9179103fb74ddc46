/* app.js -- the tokenauth demo client: login form, token state, one authenticated WebSocket.
 *
 * How it works:
 *   - Log in: POST <api base>/api/login/ with a form-encoded body (a "simple" CORS request, so a
 *     page opened from disk needs no preflight). 200 {"token": key} stores the key in memory and
 *     connects; any other answer shows its error and opens no socket (the tutorial opened
 *     ?token=undefined).
 *   - Connect: new WebSocket("ws://host/", ["tokenauth", "tokenauth.token." + key]). The key
 *     travels as a Sec-WebSocket-Protocol entry, never in the URL where proxies log it; ws-worker
 *     answers with the plain "tokenauth" protocol and never echoes the key back.
 *   - Close codes are shown in words. After 1006 (connection lost), 1001 (server going away)
 *     and 1013 (try again later) the client reconnects with a growing delay; after 4401 (token
 *     missing, invalid, expired or revoked) it never does, and forgets the key.
 *   - Log out: POST /api/logout/ with "Authorization: Token <key>"; the server deletes the token
 *     and ws-worker closes the socket with 4401, which is what the page then shows.
 *
 * It does not keep the token across page loads (no storage), and it never writes the token
 * into the message log or the page: only its last four characters. */
(function () {
  "use strict";

  var PROTOCOL = "tokenauth";                 /* the subprotocol ws-worker selects */
  var TOKEN_PROTOCOL_PREFIX = "tokenauth.token."; /* + 40 hex = 56 bytes, under lws' 64 */
  var BACKOFF_FIRST_MS = 1000;
  var BACKOFF_MAX_MS = 30000;
  var LOGOUT_CLOSE_WAIT_MS = 5000;            /* then close ourselves if the server did not */
  var RECONNECT_MAX_TRIES = 8;                /* in a row without ever opening */
  var LOG_MAX_ENTRIES = 200;

  /* Close codes in words (RFC 6455 section 7.4.1, and ours from docs/websocket.md). */
  var CLOSE_WORDS = {
    1000: "closed normally",
    1001: "server going away",
    1002: "protocol error",
    1003: "the server does not accept binary messages",
    1005: "closed without a code",
    1006: "connection lost",
    1007: "the message was not valid UTF-8",
    1008: "refused by server policy",
    1009: "the message was too big",
    1010: "a required extension is missing",
    1011: "the server hit an internal error",
    1012: "server restarting",
    1013: "server busy, try again later",
    1015: "TLS handshake failed",
    4401: "your session was revoked"
  };
  var RECONNECT_CODES = { 1001: true, 1006: true, 1012: true, 1013: true };

  var $ = function (id) { return document.getElementById(id); };
  var el = {
    loginForm: $("login-form"), loginFields: $("login-fields"), username: $("username"),
    password: $("password"), sessionTitle: $("session-title"),
    login: $("login"), loginError: $("login-error"), apiBase: $("api-base"),
    tokenState: $("token-state"), connState: $("conn-state"), closeReason: $("close-reason"),
    connect: $("connect"), disconnect: $("disconnect"), logout: $("logout"),
    hello: $("hello"), whoami: $("whoami"), commandForm: $("command-form"),
    command: $("command"), send: $("send"), log: $("log"), clearLog: $("clear-log")
  };

  var state = {
    token: null,          /* the key while logged in, else null */
    username: "",
    socket: null,         /* the current WebSocket, or null */
    wantOpen: false,      /* true while the user wants a socket: reconnects only then */
    backoffMs: BACKOFF_FIRST_MS,
    failedTries: 0,       /* reconnects in a row that never reached "open" */
    retryTimer: null,
    loggingIn: false,
    loggingOut: false
  };

  /* The API base: same origin over http(s); http://localhost:8000 from disk (the tutorial). */
  function defaultApiBase() {
    if (location.protocol === "http:" || location.protocol === "https:") {
      return location.origin;
    }
    return "http://localhost:8000";
  }

  function apiBase() {
    var base = el.apiBase.value.trim() || defaultApiBase();
    return base.replace(/\/+$/, "");
  }

  function socketUrl() {
    var u = new URL(apiBase() + "/");
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    u.pathname = "/";
    u.search = "";
    u.hash = "";
    return u.toString();
  }

  function describeClose(code, reason) {
    var words = CLOSE_WORDS[code] ||
      (code >= 4000 ? "closed by the application" : "closed");
    return words + " (" + code + (reason ? ", " + reason : "") + ")";
  }

  function masked(token) {
    return "\u2026" + token.slice(-4);
  }

  function addLog(kind, text) {
    var li = document.createElement("li");
    var now = new Date();
    var time = document.createElement("time");
    li.className = kind;
    time.dateTime = now.toISOString();
    time.textContent = now.toTimeString().slice(0, 8);
    li.appendChild(time);
    li.appendChild(document.createTextNode(text));
    el.log.appendChild(li);
    while (el.log.children.length > LOG_MAX_ENTRIES) {
      el.log.removeChild(el.log.firstChild);
    }
    el.log.scrollTop = el.log.scrollHeight;
  }

  /* Brings every control and state line in line with `state`. */
  function render() {
    var open = state.socket !== null && state.socket.readyState === WebSocket.OPEN;
    var connecting = state.socket !== null && state.socket.readyState === WebSocket.CONNECTING;
    document.body.dataset.socket = open ? "open" : connecting ? "connecting" : "closed";
    document.body.dataset.token = state.token ? "present" : "none";
    if (state.token) {
      var tail = document.createElement("span");
      tail.className = "token-tail";
      tail.textContent = masked(state.token);
      el.tokenState.textContent = "logged in as " + state.username + " (token ";
      el.tokenState.appendChild(tail);
      el.tokenState.appendChild(document.createTextNode(")"));
    } else {
      el.tokenState.textContent = "not logged in";
    }
    if (open) {
      el.connState.textContent = "open";
    } else if (connecting) {
      el.connState.textContent = "connecting\u2026";
    } else if (state.retryTimer !== null) {
      el.connState.textContent = "closed, reconnecting soon";
    } else {
      el.connState.textContent = "closed";
    }
    /* While logged in the login fields are disabled as a group: one login at a time. */
    el.loginFields.disabled = state.token !== null;
    el.login.disabled = state.token !== null || state.loggingIn;
    el.login.textContent = state.loggingIn ? "Logging in\u2026" : "Log in";
    el.connect.disabled = !state.token || state.socket !== null;
    el.disconnect.disabled = state.socket === null && state.retryTimer === null;
    el.logout.disabled = !state.token || state.loggingOut;
    el.hello.disabled = !open;
    el.whoami.disabled = !open;
    el.send.disabled = !open;
  }

  function showLoginError(text) {
    el.loginError.textContent = text;
    el.loginError.hidden = !text;
  }

  function showCloseReason(text) {
    el.closeReason.textContent = text;
  }

  /* Words for a failed login, from the status and the JSON body login-fcgi sends. */
  function loginErrorText(status, body, headers) {
    if (body && typeof body.user_not_found === "string") {
      return body.user_not_found;
    }
    if (status === 429) {
      var after = headers.get("Retry-After");
      return "Too many failed logins: try again" + (after ? " in " + after + " s" : " later") + ".";
    }
    if (body && typeof body === "object") {
      var parts = [];
      Object.keys(body).forEach(function (k) {
        var v = body[k];
        parts.push(k + ": " + (Array.isArray(v) ? v.join(" ") : String(v)));
      });
      if (parts.length) {
        return parts.join("; ");
      }
    }
    return "Login failed (HTTP " + status + ").";
  }

  function login(event) {
    event.preventDefault();
    if (state.token) {
      return;
    }
    var username = el.username.value;
    var password = el.password.value;
    showLoginError("");
    if (!username || !password) {
      showLoginError(!username ? "Enter your username." : "Enter your password.");
      (!username ? el.username : el.password).focus();
      return;
    }
    state.loggingIn = true;
    render();
    var body = new URLSearchParams();
    body.set("username", username);
    body.set("password", password);
    fetch(apiBase() + "/api/login/", { method: "POST", body: body, cache: "no-store" })
      .then(function (resp) {
        return resp.json().catch(function () { return null; }).then(function (json) {
          if (resp.status === 200 && json && typeof json.token === "string" &&
              /^[0-9a-f]{40}$/.test(json.token)) {
            el.password.value = "";
            state.token = json.token;
            state.username = username;
            addLog("info", "logged in as " + username);
            showCloseReason("");
            state.loggingIn = false;
            openSocket();
            /* The focused fields are now disabled: keyboard users continue at the session. */
            el.sessionTitle.focus();
            return;
          }
          state.loggingIn = false;
          render();
          showLoginError(loginErrorText(resp.status, json, resp.headers));
          addLog("problem", "login refused (HTTP " + resp.status + ")");
          el.password.select();
          el.password.focus();
        });
      })
      .catch(function (err) {
        state.loggingIn = false;
        showLoginError("Cannot reach the server at " + apiBase() + " (" + err.message + ")." +
          (location.protocol === "file:"
            ? " This page is opened from disk: the server must allow that (make run " +
              "FILE_MODE=1, or TOKENAUTH_CORS_ORIGINS and TOKENAUTH_ALLOWED_HOSTS)."
            : ""));
        addLog("problem", "login request failed: " + err.message);
      })
      .then(render);
  }

  function clearRetry() {
    if (state.retryTimer !== null) {
      clearTimeout(state.retryTimer);
      state.retryTimer = null;
    }
  }

  function openSocket() {
    if (!state.token || state.socket !== null) {
      return;
    }
    clearRetry();
    state.wantOpen = true;
    var socket;
    try {
      socket = new WebSocket(socketUrl(), [PROTOCOL, TOKEN_PROTOCOL_PREFIX + state.token]);
    } catch (err) {
      addLog("problem", "cannot open a socket: " + err.message);
      render();
      return;
    }
    state.socket = socket;
    addLog("info", "connecting to " + socketUrl());
    socket.onopen = function () {
      state.backoffMs = BACKOFF_FIRST_MS;
      state.failedTries = 0;
      showCloseReason("");
      addLog("info", "socket open (protocol " + (socket.protocol || "none") + ")");
      render();
    };
    socket.onmessage = function (ev) {
      if (typeof ev.data !== "string") {
        addLog("received", "(binary message of " + (ev.data.size || ev.data.byteLength) +
          " bytes)");
        return;
      }
      addLog("received", ev.data);
    };
    socket.onclose = function (ev) {
      onSocketClose(socket, ev.code, ev.reason);
    };
    render();
  }

  function onSocketClose(socket, code, reason) {
    if (state.socket !== socket) {
      return;
    }
    state.socket = null;
    var text = describeClose(code, reason);
    addLog("info", "socket closed: " + text);
    if (code === 4401) {
      /* The key is dead (revoked, expired, unknown): never retry with it. */
      state.token = null;
      state.wantOpen = false;
      state.loggingOut = false;
      showCloseReason("Socket closed: " + text + ". Log in again to continue.");
    } else if (state.wantOpen && RECONNECT_CODES[code] &&
               state.failedTries < RECONNECT_MAX_TRIES) {
      state.failedTries += 1;
      var delay = state.backoffMs;
      state.backoffMs = Math.min(state.backoffMs * 2, BACKOFF_MAX_MS);
      showCloseReason("Socket closed: " + text + ". Reconnecting in " +
        Math.round(delay / 1000) + " s.");
      state.retryTimer = setTimeout(function () {
        state.retryTimer = null;
        openSocket();
      }, delay);
    } else {
      state.wantOpen = false;
      state.failedTries = 0;
      showCloseReason("Socket closed: " + text + ".");
    }
    render();
  }

  function closeSocket() {
    state.wantOpen = false;
    clearRetry();
    if (state.socket !== null) {
      state.socket.close(1000, "client disconnect");
    }
    render();
  }

  function logout() {
    if (!state.token) {
      return;
    }
    var token = state.token;
    state.loggingOut = true;
    render();
    fetch(apiBase() + "/api/logout/", {
      method: "POST",
      headers: { "Authorization": "Token " + token },
      cache: "no-store"
    })
      .then(function (resp) {
        if (resp.status === 204 || resp.status === 401) {
          /* 401: the token was already gone; either way this key is finished. */
          addLog("info", "logged out (HTTP " + resp.status + ")");
          if (state.token === token) {
            state.token = null;
          }
          state.wantOpen = false;
          clearRetry();
          var socket = state.socket;
          if (socket !== null) {
            addLog("info", "waiting for the server to close the socket");
            setTimeout(function () {
              if (state.socket === socket) {
                socket.close(1000, "logged out");
              }
            }, LOGOUT_CLOSE_WAIT_MS);
          }
        } else {
          addLog("problem", "logout failed (HTTP " + resp.status + ")");
        }
      })
      .catch(function (err) {
        addLog("problem", "logout request failed: " + err.message);
      })
      .then(function () {
        state.loggingOut = false;
        render();
      });
  }

  function sendText(text) {
    if (state.socket === null || state.socket.readyState !== WebSocket.OPEN) {
      addLog("problem", "not connected");
      return;
    }
    state.socket.send(text);
    addLog("sent", text);
  }

  function sendCommand(event) {
    event.preventDefault();
    sendText(el.command.value);
  }

  el.apiBase.value = defaultApiBase();
  el.loginForm.addEventListener("submit", login);
  el.connect.addEventListener("click", openSocket);
  el.disconnect.addEventListener("click", closeSocket);
  el.logout.addEventListener("click", logout);
  el.hello.addEventListener("click", function () {
    sendText(JSON.stringify({ command: "Say hello !", data_string: "This is the data string !" }));
  });
  el.whoami.addEventListener("click", function () {
    sendText(JSON.stringify({ command: "whoami" }));
  });
  el.commandForm.addEventListener("submit", sendCommand);
  el.command.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      if (!el.send.disabled) {
        sendText(el.command.value);
      }
    }
  });
  el.clearLog.addEventListener("click", function () {
    el.log.textContent = "";
  });
  render();
}());
