#!/usr/bin/env python3
"""Runs schemathesis against a real sesame and its own /api/v1/openapi.json.

The server is the release binary (target/release/sesame) if there is one, else the debug
binary, on a fresh SQLite database in a temporary directory, on a free port of 127.0.0.1.
Two users are made with the CLI (`sesame user create --password-stdin`), an administrator and
a plain user, and logged in through POST /api/v1/auth_session/login for their cookies.

Schemathesis then runs in phases, each with one identity:

  anonymous     every operation, no credentials
  user          every operation but those that may end or change the caller's own session,
                a plain user's cookie
  admin         the same, an administrator's cookie
  user-ending   the operations that may end or change the caller's session (deleting a user,
                ending one's own or a user's sessions, changing a user), but the logout: a
                fresh plain user's session
  admin-ending  the same, plus creating and listing users and listing one's sessions, so that
                they act on real ids (schemathesis infers the links from the responses): a
                fresh administrator's session, which may well delete itself
  logout        the logout alone, a fresh user's session: its first call ends it

Those operations would otherwise end the identity (or withdraw its admin flag) half way
through a phase, and every later request of the phase would be a 403; so each phase that may
end its session runs last for that session, on accounts made for it (the first accounts are
throttled by then: the earlier phases read their emails from GET /users and tried them with
wrong passwords, as they should).

Every phase runs every check schemathesis has, less what EXCLUDED_CHECKS (nothing) and
schemathesis.toml (one check on the operations it names) turn off, each with its reason.
The figures (requests, statuses, per phase and in total) are printed and written as JSON to
--summary. Exit status: 0 when every phase passed and at least --min-requests requests were
made; 1 otherwise; 77 when schemathesis is not installed.

Install: python3 -m venv target/schemathesis-venv &&
         target/schemathesis-venv/bin/pip install -r tests/schemathesis/requirements.txt
"""

import argparse
import collections
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SESSION_NAME = "_my_session_id"
PASSWORD = "correct horse battery staple"

# Checks left out of every phase, and why (per-operation exceptions are in schemathesis.toml).
EXCLUDED_CHECKS = {}

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemathesis.toml")

# Operations (by operationId) that may end the caller's own session or change who it is.
ENDING = [
    "delete_user",
    "revoke_user_sessions",
    "revoke_my_session",
    "update_user",
    "reset_user_mfa",
]
LOGOUT = "logout"


def find_schemathesis():
    """The schemathesis executable, or None."""
    candidates = [
        os.environ.get("SCHEMATHESIS"),
        os.path.join(os.path.dirname(sys.executable), "schemathesis"),
        os.path.join(ROOT, "target", "schemathesis-venv", "bin", "schemathesis"),
        shutil.which("schemathesis"),
    ]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def find_binary():
    if os.environ.get("SESAME_BIN"):
        return os.environ["SESAME_BIN"]
    for profile in ("release", "debug"):
        path = os.path.join(ROOT, "target", profile, "sesame")
        if os.path.isfile(path):
            return path
    sys.exit("no sesame binary: run `cargo build --release` first")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(db_url, port):
    """A clean environment: nothing of the caller's sesame configuration leaks in."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(
        API_HOST="127.0.0.1",
        API_PORT=str(port),
        DATABASE_URL=db_url,
        RUST_LOG="warn",
        # Mail on, to a port where nothing listens: the mail routes answer as in production
        # and the mails wait in the outbox (nobody is there to read them).
        SMTP_URL=f"smtp://127.0.0.1:{free_port()}",
        SIGNUP="open",
    )
    return env


def create_user(binary, env, email, admin):
    cmd = [binary, "user", "create", "--email", email, "--password-stdin"]
    if admin:
        cmd.append("--admin")
    subprocess.run(cmd, input=PASSWORD + "\n", env=env, check=True, text=True,
                   stdout=subprocess.DEVNULL, timeout=60)


def http(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def wait_until_up(base, proc):
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"sesame exited with {proc.returncode} before answering")
        try:
            if http("GET", base + "/api/v1/status")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("sesame did not answer /api/v1/status within 30 s")


def login(base, email):
    status, headers, body = http("POST", base + "/api/v1/auth_session/login",
                                 {"email": email, "password": PASSWORD})
    if status != 200:
        sys.exit(f"login of {email}: {status} {body!r}")
    for value in headers.get_all("Set-Cookie") or []:
        pair = value.split(";", 1)[0]
        name, _, token = pair.partition("=")
        if name == SESSION_NAME:
            return token
    sys.exit(f"login of {email}: no {SESSION_NAME} cookie")


def figures(ndjson_path):
    """Requests made and statuses answered, from schemathesis' NDJSON events."""
    statuses = collections.Counter()
    requests = 0
    with open(ndjson_path) as f:
        for line in f:
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if not finished:
                continue
            for interaction in (finished.get("recorder") or {}).get("interactions", {}).values():
                requests += 1
                response = interaction.get("response")
                statuses[str(response["status_code"]) if response else "no response"] += 1
    return requests, statuses


def run_phase(st, args, schema_url, name, cookie, include=None, exclude=None):
    ndjson = os.path.join(args.report_dir, f"{name}.ndjson")
    cmd = [
        st, "--config-file", CONFIG, "run", schema_url,
        "--max-examples", str(args.max_examples),
        "--workers", str(args.workers),
        "--report", "ndjson",
        "--report-ndjson-path", ndjson,
        "--no-color",
        "--warnings", "off",
        "--generation-with-security-parameters", "false" if cookie else "true",
    ]
    # No `--checks all`: every check runs by default, and a check named on the command line
    # would override the per-operation exceptions of schemathesis.toml.
    if args.all_checks:
        cmd += ["--checks", "all"]
    for check in [] if args.all_checks else EXCLUDED_CHECKS:
        cmd += ["--exclude-checks", check]
    if args.seed:
        cmd += ["--seed", args.seed]
    if cookie:
        cmd += ["-H", f"Cookie: {SESSION_NAME}={cookie}"]
    for op in include or []:
        cmd += ["--include-operation-id", op]
    for op in exclude or []:
        cmd += ["--exclude-operation-id", op]
    print(f"\n===== phase {name} =====", flush=True)
    started = time.time()
    result = subprocess.run(cmd, cwd=args.report_dir, timeout=args.phase_timeout)
    requests, statuses = figures(ndjson) if os.path.exists(ndjson) else (0, {})
    return {
        "phase": name,
        "passed": result.returncode == 0,
        "exit": result.returncode,
        "requests": requests,
        "statuses": dict(sorted(statuses.items())),
        "seconds": round(time.time() - started, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25")))
    parser.add_argument("--workers", default=os.environ.get("SCHEMATHESIS_WORKERS", "2"))
    parser.add_argument("--seed", default=os.environ.get("SCHEMATHESIS_SEED"))
    parser.add_argument("--min-requests", type=int, default=2000)
    parser.add_argument("--phase-timeout", type=int, default=240)
    parser.add_argument("--report-dir", default=None)
    parser.add_argument("--summary", default=None)
    parser.add_argument("--all-checks", action="store_true",
                        help="`--checks all`, which overrides schemathesis.toml's exceptions")
    args = parser.parse_args()

    st = find_schemathesis()
    if st is None:
        print("schemathesis is not installed (see tests/schemathesis/requirements.txt)")
        return 77
    version = subprocess.run([st, "--version"], capture_output=True, text=True).stdout.strip()
    binary = find_binary()
    tmp = tempfile.mkdtemp(prefix="sesame-schemathesis-")
    args.report_dir = os.path.abspath(args.report_dir or os.path.join(tmp, "reports"))
    os.makedirs(args.report_dir, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = server_env(f"sqlite://{tmp}/sesame.db", port)
    print(f"{version}; server {binary} at {base}; database {tmp}/sesame.db", flush=True)

    create_user(binary, env, "admin@example.com", admin=True)
    create_user(binary, env, "user@example.com", admin=False)
    log = open(os.path.join(tmp, "sesame.log"), "w")
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_up(base, proc)
        schema_url = base + "/api/v1/openapi.json"
        phases = []

        def phase(name, email=None, admin=False, make=False, **filters):
            if make:
                create_user(binary, env, email, admin=admin)
            cookie = login(base, email) if email else None
            phases.append(run_phase(st, args, schema_url, name, cookie, **filters))

        session_enders = ENDING + [LOGOUT]
        phase("anonymous")
        phase("user", "user@example.com", exclude=session_enders)
        phase("admin", "admin@example.com", exclude=session_enders)
        phase("user-ending", "user-ending@example.com", make=True, include=ENDING)
        phase("admin-ending", "admin-ending@example.com", admin=True, make=True,
              include=ENDING + ["create_user", "list_users", "list_my_sessions"])
        phase("logout", "logout@example.com", make=True, include=[LOGOUT])
        alive = proc.poll() is None
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

    total = sum(p["requests"] for p in phases)
    statuses = collections.Counter()
    for p in phases:
        statuses.update(p["statuses"])
    server_errors = sum(n for s, n in statuses.items() if s.startswith("5"))
    summary = {
        "schemathesis": version,
        "binary": binary,
        "excluded_checks": EXCLUDED_CHECKS,
        "config": CONFIG,
        "phases": phases,
        "requests": total,
        "statuses": dict(sorted(statuses.items())),
        "server_errors": server_errors,
        "server_alive": alive,
        "reports": args.report_dir,
    }
    print("\n===== figures =====")
    for p in phases:
        print(f"{p['phase']:>13}: {p['requests']:5} requests in {p['seconds']:5}s, "
              f"{'passed' if p['passed'] else 'FAILED'}, statuses {p['statuses']}")
    print(f"{'total':>13}: {total:5} requests, statuses {summary['statuses']}")
    print(f"excluded checks: {EXCLUDED_CHECKS}")
    print(f"reports: {args.report_dir}; database and server log (kept on failure): {tmp}")
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump(summary, f, indent=2)
    ok = all(p["passed"] for p in phases) and total >= args.min_requests and alive
    if total < args.min_requests:
        print(f"only {total} requests, fewer than {args.min_requests}")
    if not alive:
        print("the server died during the run")
    if ok:
        # The database and the server log; reports asked for elsewhere stay.
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
