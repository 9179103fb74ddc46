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
 *   - Channels, once the socket is open: it asks for {"command":"subscriptions"} (which names
 *     the personal channel user.<id>), subscribes, unsubscribes and publishes with the
 *     commands of the same names, lists each delivery {"channel", "data", "from"} under its
 *     channel with the sender's username ("server" without "from"), shows gap notices and the
 *     channel errors in words. A delivery with "via": "reply_channel" instead of "channel"
 *     (from a group Django added this socket to server-side; the group is not named) is listed
 *     under VIA_REPLY_CHANNEL_LABEL. After a reconnect it subscribes again to the channels the user
 *     chose (the server forgets them with the socket).
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
  var CHANNEL_MAX_MESSAGES = 200;
  var PERSONAL_RE = /^user\.[1-9][0-9]*$/;
  var VIA_REPLY_CHANNEL_LABEL = "(server-side group)"; /* no channel name has brackets */
  var ACTION_WORDS = { subscribe: "subscribe to", unsubscribe: "unsubscribe from",
    publish: "publish to" };

  /* Channel errors in words; the server's detail follows in brackets. */
  var CHANNEL_ERRORS = {
    forbidden: "not allowed",     /* the server's detail says why: not public, not yours, ... */
    invalid_channel: "not a channel name (1 to 99 letters, digits, \".\", \"-\" or \"_\")",
    not_subscribed: "you are not subscribed to it",
    too_many_subscriptions: "you have too many subscriptions: unsubscribe from one first",
    unavailable: "channels are unavailable right now (the server cannot reach Redis); try again " +
      "later"
  };

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
    command: $("command"), send: $("send"), log: $("log"), clearLog: $("clear-log"),
    channels: $("channels-section"), personal: $("personal-channel"),
    subscriptions: $("subscriptions"), subscribeForm: $("subscribe-form"),
    subscribeFields: $("subscribe-fields"), subscribeChannel: $("subscribe-channel"),
    subscribeSignature: $("subscribe-signature"), publishForm: $("publish-form"),
    publishFields: $("publish-fields"), publishChannel: $("publish-channel"),
    publishText: $("publish-text"), channelOptions: $("channel-options"),
    channelStatus: $("channel-status"), channelError: $("channel-error"),
    channelFilter: $("channel-filter"), channelMessages: $("channel-messages")
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
    loggingOut: false,
    everOpen: false,      /* a socket opened since this login: the channels panel shows */
    personal: "",         /* "user.<id>" once the server said so */
    subscribed: [],       /* channel names the server confirmed, in order */
    chosen: {},           /* channel -> signature ("" for none) the user subscribed to */
    pending: {}           /* channel -> the last command sent for it, for error words */
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
    el.channels.hidden = !(state.token && state.everOpen);
    el.subscribeFields.disabled = !open;
    el.publishFields.disabled = !open;
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
      state.everOpen = true;
      render();
      channelsOnOpen();
    };
    socket.onmessage = function (ev) {
      if (typeof ev.data !== "string") {
        addLog("received", "(binary message of " + (ev.data.size || ev.data.byteLength) +
          " bytes)");
        return;
      }
      addLog("received", ev.data);
      channelsOnMessage(ev.data);
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
    state.subscribed = [];
    renderSubscriptions();
    var text = describeClose(code, reason);
    addLog("info", "socket closed: " + text);
    if (code === 4401) {
      /* The key is dead (revoked, expired, unknown): never retry with it. */
      state.token = null;
      state.wantOpen = false;
      state.loggingOut = false;
      forgetChannels();
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
            forgetChannels();
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

  /* Channels. ------------------------------------------------------------------------------ */

  function sendJson(obj) {
    sendText(JSON.stringify(obj));
  }

  /* Sends one channel command, remembering it so an error for that channel can say what failed. */
  function channelCommand(command, channel, extra) {
    var msg = { command: command, channel: channel };
    Object.keys(extra || {}).forEach(function (k) { msg[k] = extra[k]; });
    state.pending[channel] = command;
    sendJson(msg);
  }

  /* A new socket knows only the personal channel: ask for the list, then subscribe again to
   * what the user chose on an earlier socket of this login. */
  function channelsOnOpen() {
    sendJson({ command: "subscriptions" });
    Object.keys(state.chosen).forEach(function (channel) {
      var signature = state.chosen[channel];
      channelCommand("subscribe", channel, signature ? { signature: signature } : null);
    });
  }

  function forgetChannels() {
    state.everOpen = false;
    state.personal = "";
    state.subscribed = [];
    state.chosen = {};
    state.pending = {};
    el.channelMessages.textContent = "";
    showChannelStatus("");
    showChannelError("");
    renderSubscriptions();
    renderPersonal();
  }

  function showChannelStatus(text) {
    el.channelStatus.textContent = text;
  }

  function showChannelError(text) {
    el.channelError.textContent = text;
    el.channelError.hidden = !text;
  }

  function setPersonal(channel) {
    if (PERSONAL_RE.test(channel)) {
      state.personal = channel;
      renderPersonal();
    }
  }

  function renderPersonal() {
    el.personal.textContent = state.personal
      ? state.personal + " (only you receive what is published there)"
      : "unknown";
  }

  function addSubscribed(channel) {
    if (state.subscribed.indexOf(channel) < 0) {
      state.subscribed.push(channel);
    }
    renderSubscriptions();
  }

  function removeSubscribed(channel) {
    state.subscribed = state.subscribed.filter(function (c) { return c !== channel; });
    renderSubscriptions();
  }

  function subscriptionItem(channel) {
    var li = document.createElement("li");
    var name = document.createElement("span");
    name.className = "channel-name";
    name.textContent = channel;
    li.dataset.channel = channel;
    li.appendChild(name);
    if (channel === state.personal) {
      var tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = "personal";
      li.appendChild(tag);
      return li;
    }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary small";
    button.textContent = "Unsubscribe";
    button.setAttribute("aria-label", "Unsubscribe from " + channel);
    button.disabled = state.socket === null || state.socket.readyState !== WebSocket.OPEN;
    button.addEventListener("click", function () { unsubscribe(channel); });
    li.appendChild(button);
    return li;
  }

  /* The subscription list, the publish field's suggestions and the filter's choices. */
  function renderSubscriptions() {
    el.subscriptions.textContent = "";
    el.channelOptions.textContent = "";
    state.subscribed.forEach(function (channel) {
      el.subscriptions.appendChild(subscriptionItem(channel));
      var option = document.createElement("option");
      option.value = channel;
      el.channelOptions.appendChild(option);
    });
    if (state.subscribed.length === 0) {
      var none = document.createElement("li");
      none.className = "none";
      none.textContent = state.socket ? "nothing yet" : "nothing (not connected)";
      el.subscriptions.appendChild(none);
    }
    addFilterChoices(state.subscribed);
  }

  /* The filter keeps every channel it ever listed, so older messages stay reachable. */
  function addFilterChoices(channels) {
    var known = Array.prototype.map.call(el.channelFilter.options, function (o) {
      return o.value;
    });
    channels.forEach(function (channel) {
      if (known.indexOf(channel) < 0) {
        var option = document.createElement("option");
        option.value = channel;
        option.textContent = channel;
        el.channelFilter.appendChild(option);
        known.push(channel);
      }
    });
  }

  function applyFilter() {
    var only = el.channelFilter.value;
    Array.prototype.forEach.call(el.channelMessages.children, function (li) {
      li.hidden = only !== "" && li.dataset.channel !== only;
    });
  }

  /* One entry of the channel messages: channel, sender and time on a line, then the text. */
  function addChannelMessage(kind, channel, sender, text) {
    var li = document.createElement("li");
    var head = document.createElement("div");
    var now = new Date();
    li.className = kind;
    li.dataset.channel = channel;
    head.className = "head";
    [["msg-channel", channel], ["msg-from", sender]].forEach(function (part) {
      var span = document.createElement("span");
      span.className = part[0];
      span.textContent = part[1];
      head.appendChild(span);
    });
    var time = document.createElement("time");
    time.dateTime = now.toISOString();
    time.textContent = now.toTimeString().slice(0, 8);
    head.appendChild(time);
    var body = document.createElement("div");
    body.className = "msg-text";
    body.textContent = text;
    li.appendChild(head);
    li.appendChild(body);
    li.hidden = el.channelFilter.value !== "" && el.channelFilter.value !== channel;
    el.channelMessages.appendChild(li);
    while (el.channelMessages.children.length > CHANNEL_MAX_MESSAGES) {
      el.channelMessages.removeChild(el.channelMessages.firstChild);
    }
    el.channelMessages.scrollTop = el.channelMessages.scrollHeight;
    addFilterChoices([channel]);
  }

  function onDelivery(msg) {
    if (msg.gap === true) {
      addChannelMessage("gap", msg.channel, "server", "Some messages on " + msg.channel +
        " may have been lost: the server was cut off from Redis for a while.");
      return;
    }
    var from = msg.from && typeof msg.from.username === "string" ? msg.from.username : "server";
    var text = typeof msg.data === "string" ? msg.data : JSON.stringify(msg.data);
    var channel = typeof msg.channel === "string" ? msg.channel : VIA_REPLY_CHANNEL_LABEL;
    addChannelMessage("delivery", channel, from, text);
  }

  function onChannelError(msg) {
    var channel = typeof msg.channel === "string" ? msg.channel : "";
    var action = channel && state.pending[channel] ? state.pending[channel] : "";
    var words = CHANNEL_ERRORS[msg.error] || msg.error;
    var text = channel ? "Cannot " + (ACTION_WORDS[action] || "use") + " " + channel + ": " + words
      : "Channel command refused: " + words;
    if (typeof msg.detail === "string" && msg.detail) {
      text += " (" + msg.detail + ")";
    }
    if (msg.error !== "unavailable" && action === "subscribe") {
      delete state.chosen[channel]; /* never retried after a reconnect */
    }
    showChannelStatus("");
    showChannelError(text + ".");
  }

  /* The channel part of every incoming text message; anything else is left to the log. */
  function channelsOnMessage(text) {
    var msg;
    try {
      msg = JSON.parse(text);
    } catch (err) {
      return;
    }
    if (!msg || typeof msg !== "object" || Array.isArray(msg)) {
      return;
    }
    if (typeof msg.channel === "string" && ("data" in msg || msg.gap === true)) {
      onDelivery(msg);
    } else if (msg.via === "reply_channel" && "data" in msg) {
      onDelivery(msg);
    } else if (typeof msg.error === "string" && (typeof msg.channel === "string" ||
               (CHANNEL_ERRORS[msg.error] && msg.error !== "unavailable"))) {
      onChannelError(msg);
    } else if (Array.isArray(msg.subscriptions)) {
      state.subscribed = [];
      msg.subscriptions.forEach(function (c) {
        setPersonal(c);
        addSubscribed(c);
      });
      renderSubscriptions();
    } else if (typeof msg.subscribed === "string") {
      setPersonal(msg.subscribed);
      addSubscribed(msg.subscribed);
      showChannelError("");
      showChannelStatus("Subscribed to " + msg.subscribed + ".");
      if (!el.publishChannel.value && !PERSONAL_RE.test(msg.subscribed)) {
        el.publishChannel.value = msg.subscribed;
      }
    } else if (typeof msg.unsubscribed === "string") {
      removeSubscribed(msg.unsubscribed);
      showChannelError("");
      showChannelStatus("Unsubscribed from " + msg.unsubscribed + ".");
    } else if (typeof msg.published === "string") {
      showChannelError("");
      showChannelStatus("Published to " + msg.published + ".");
    } else if (msg.user && typeof msg.user.id === "number") {
      setPersonal("user." + msg.user.id); /* the whoami reply */
      renderSubscriptions();
    }
  }

  /* The name from a field, or "" after saying what is missing. */
  function channelFrom(input) {
    var channel = input.value.trim();
    if (!channel) {
      showChannelError("Enter a channel name.");
      input.focus();
    }
    return channel;
  }

  function subscribe(event) {
    event.preventDefault();
    var channel = channelFrom(el.subscribeChannel);
    if (!channel) {
      return;
    }
    var signature = el.subscribeSignature.value.trim();
    showChannelError("");
    state.chosen[channel] = signature;
    channelCommand("subscribe", channel, signature ? { signature: signature } : null);
  }

  function unsubscribe(channel) {
    delete state.chosen[channel];
    showChannelError("");
    channelCommand("unsubscribe", channel);
  }

  function publish(event) {
    event.preventDefault();
    var channel = channelFrom(el.publishChannel);
    if (!channel) {
      return;
    }
    var text = el.publishText.value;
    if (!text.trim()) {
      showChannelError("Enter a message to publish.");
      el.publishText.focus();
      return;
    }
    showChannelError("");
    channelCommand("publish", channel, { data: text });
    el.publishText.value = "";
    el.publishText.focus();
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
  el.subscribeForm.addEventListener("submit", subscribe);
  el.publishForm.addEventListener("submit", publish);
  el.publishText.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!el.publishFields.disabled) {
        el.publishForm.requestSubmit();
      }
    }
  });
  el.channelFilter.addEventListener("change", applyFilter);
  renderSubscriptions();
  renderPersonal();
  render();
}());
