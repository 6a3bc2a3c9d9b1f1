#!/usr/bin/env python3
"""Submit message files over ONE SMTP session with Python's smtplib, the peer of
bench/transport.sh: STARTTLS verifying the server certificate against the test root and the host
name, client certificate in the handshake, AUTH PLAIN with the applicative address (its password
is not checked: the certificate authenticates), then MAIL/RCPT/DATA per file.

With --nodelay the socket gets TCP_NODELAY. smtplib leaves Nagle's algorithm on: on loopback
(MSS about 64 KB) each 16 KB TLS record is a "small" segment, so the second record of a message
waits for the server's delayed ACK (about 40 ms per message). Go sets TCP_NODELAY on every TCP
connection; the --nodelay run is the peer without that handicap.

usage: submit_smtplib.py [--nodelay] HOST PORT ROOT_CA CERT KEY ACCOUNT RCPT FILE...
"""
import smtplib
import socket
import ssl
import sys


def main():
    args = sys.argv[1:]
    nodelay = bool(args) and args[0] == "--nodelay"
    if nodelay:
        args = args[1:]
    host, port, ca, cert, key, account, rcpt, *files = args
    ctx = ssl.create_default_context(cafile=ca)  # verifies the chain and the host name
    ctx.load_cert_chain(cert, key)
    with smtplib.SMTP(host, int(port), local_hostname="bench.localdomain") as s:
        if nodelay:
            s.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.starttls(context=ctx)
        s.login(account, "unused")
        for f in files:
            with open(f, "rb") as fh:
                s.sendmail(account, [rcpt], fh.read())
    print(f"sent {len(files)} messages")


if __name__ == "__main__":
    main()
