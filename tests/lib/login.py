"""login.py -- login-fcgi run once as plain CGI, as test_login_cgi.py and test_publish.py do.

run_cgi(argv0, env, body, method, path) builds the CGI/1.1 environment a web server would (from
this process's environment without its TOKENAUTH_* settings, then env: None values remove a
name), feeds body on stdin and returns a Reply of what it printed."""
import json
import os
import subprocess


class Reply:
    """What one CGI run printed: status, headers (lower-case names), JSON body, stderr."""

    def __init__(self, rc, out, err):
        self.rc, self.stderr = rc, err.decode("utf-8", "replace")
        head, _, self.body = out.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines[0].startswith("Status:") else None
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        try:
            self.json = json.loads(self.body) if self.body else None
        except ValueError:
            self.json = "not json: %r" % self.body

    def __repr__(self):
        return "status %r headers %r body %r stderr %r" % (self.status, self.headers, self.body,
                                                           self.stderr)


def run_cgi(program, env, body=b"", method="POST", path="/api/login/", ctype=None,
            length=None):
    """Runs program once as CGI for method path with body; CONTENT_TYPE is ctype unless None,
    CONTENT_LENGTH the body's length or length; env comes last (a None value drops a name)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("TOKENAUTH_")}
    e.update({"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": method, "SCRIPT_NAME": path,
              "REQUEST_URI": path, "REMOTE_ADDR": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1"})
    if ctype is not None:
        e["CONTENT_TYPE"] = ctype
    if body or length is not None:
        e["CONTENT_LENGTH"] = str(len(body) if length is None else length)
    e.update(env)
    e = {k: v for k, v in e.items() if v is not None}
    p = subprocess.run([program], input=body, env=e, capture_output=True, timeout=60)
    return Reply(p.returncode, p.stdout, p.stderr)
