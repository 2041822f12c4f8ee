#!/usr/bin/env python3
"""A real SMTP server for dutywatch's integration tests (aiosmtpd).

Listens on 127.0.0.1 and prints `listening <port>` as its first stdout line once it accepts
connections, so a test waits on that line instead of sleeping. Each message that reaches DATA
is written to --maildir as one JSON file (envelope, login and the raw message), accepted or
not, so a test can also see what a rejected attempt carried (its Message-ID, say).

Options:
  --port N       port to listen on; 0 (the default) lets the OS choose
  --maildir DIR  where received messages are written (created if missing)
  --reject C:N   answer DATA of the first N messages with reply code C (e.g. 451:1, 550:2)

  --reject-rcpt ADDRESS:N
                 answer RCPT TO for ADDRESS with 550 the first N times (a departed mailbox)
  --quit-delay S wait S seconds (a float) before answering QUIT: a slow teardown, the window in
                 which a client killed after the relay's 250 must already have recorded it
  --tls MODE     `starttls` (offered and required before MAIL and AUTH) or `implicit` (TLS from
                 the first byte); needs --cert and --key, PEM files. Without it, TLS is not
                 offered and AUTH is allowed in the clear (loopback tests need no certificates).

With SMTP_TEST_USER and SMTP_TEST_PASSWORD in the environment, AUTH PLAIN/LOGIN is required
and only that pair is accepted (535 otherwise); each attempt appends `accepted <login>` or
`refused <login>` to auth.log in --maildir (never the password). Each received message records
whether it came over TLS.

Each connection appends `open` to sessions.log in --maildir when it is made and `closed` when it
is lost, after which it stores nothing more; a test that killed a client mid-session waits for
the counts to match before it looks at what the server took.

The server exits when its stdin reaches end of file, so it never outlives a test process that
died without killing it.
"""

import argparse
import asyncio
import json
import logging
import os
import ssl
import sys
import threading
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def parse_reject(text):
    if text is None:
        return None, 0
    code, _, count = text.partition(":")
    if not (len(code) == 3 and code.isdigit() and code[0] in "45" and count.isdigit()):
        raise argparse.ArgumentTypeError(f"--reject wants CODE:COUNT such as 451:1, got {text!r}")
    return code, int(count)


def parse_reject_rcpt(text):
    address, _, count = text.rpartition(":")
    if not (address and count.isdigit()):
        raise argparse.ArgumentTypeError(f"--reject-rcpt wants ADDRESS:COUNT, got {text!r}")
    return address.lower(), int(count)


class Handler:
    def __init__(self, maildir, reject_code, reject_count, reject_rcpt, quit_delay=0.0):
        self.maildir = maildir
        self.quit_delay = quit_delay
        self.reject_code = reject_code
        self.reject_count = reject_count
        self.received = 0
        self.reject_rcpt = dict(reject_rcpt)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        left = self.reject_rcpt.get(address.lower(), 0)
        if left > 0:
            self.reject_rcpt[address.lower()] = left - 1
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        if self.quit_delay > 0:
            await asyncio.sleep(self.quit_delay)
        return "221 Bye"

    async def handle_DATA(self, server, session, envelope):
        self.received += 1
        seq = self.received
        rejected = seq <= self.reject_count
        record = {
            "seq": seq,
            "accepted": not rejected,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "authenticated_as": session.auth_data if session.authenticated else None,
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "data": envelope.original_content.decode("utf-8", "replace"),
        }
        # Written before the reply, and renamed into place, so the file is complete by the time
        # the client sees 250 (or the rejection).
        name = f"{seq:04}-{'accepted' if not rejected else 'rejected'}.json"
        tmp = os.path.join(self.maildir, f".{name}.tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(record, out)
        os.replace(tmp, os.path.join(self.maildir, name))
        if rejected:
            code = self.reject_code
            return f"{code} {code[0]}.3.0 test server rejects message {seq} of {self.reject_count}"
        return "250 2.0.0 OK"


class CountedSMTP(SMTP):
    """Logs each session's start and end to sessions.log (see the module doc)."""

    def _log_session(self, event):
        with open(os.path.join(self.event_handler.maildir, "sessions.log"), "a") as out:
            out.write(f"{event}\n")

    def connection_made(self, transport):
        # Called again for the TLS transport after STARTTLS: the same session.
        upgrade = self.transport is not None
        super().connection_made(transport)
        if not upgrade:
            self._log_session("open")

    def connection_lost(self, error):
        super().connection_lost(error)
        self._log_session("closed")


def authenticator(user, password, maildir):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user
            and auth_data.password == password
        )
        login = getattr(auth_data, "login", b"").decode("utf-8", "replace")
        with open(os.path.join(maildir, "auth.log"), "a", encoding="utf-8") as log:
            log.write(f"{'accepted' if ok else 'refused'} {login}\n")
        if ok:
            return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)

    return check


def exit_on_stdin_eof():
    try:
        sys.stdin.buffer.read()
    finally:
        os._exit(0)


async def serve(args):
    reject_code, reject_count = args.reject
    os.makedirs(args.maildir, exist_ok=True)
    handler = Handler(args.maildir, reject_code, reject_count, args.reject_rcpt, args.quit_delay)
    user = os.environ.get("SMTP_TEST_USER")
    password = os.environ.get("SMTP_TEST_PASSWORD")
    options = {"hostname": "localhost", "auth_require_tls": False}
    if user is not None and password is not None:
        options["auth_required"] = True
        options["authenticator"] = authenticator(user.encode(), password.encode(), args.maildir)
    implicit = None
    if args.tls is not None:
        if not (args.cert and args.key):
            raise SystemExit("--tls needs --cert and --key")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        if args.tls == "starttls":
            options.update(tls_context=context, require_starttls=True, auth_require_tls=True)
        else:
            implicit = context
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: CountedSMTP(handler, loop=loop, **options),
        host="127.0.0.1",
        port=args.port,
        ssl=implicit,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"listening {port}", flush=True)
    async with server:
        await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--reject", type=parse_reject, default=(None, 0))
    parser.add_argument("--reject-rcpt", type=parse_reject_rcpt, action="append", default=[])
    parser.add_argument("--quit-delay", type=float, default=0.0)
    parser.add_argument("--tls", choices=["starttls", "implicit"])
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    # aiosmtpd warns about AUTH without TLS and deprecated attributes; that is the point here.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    threading.Thread(target=exit_on_stdin_eof, daemon=True).start()
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
