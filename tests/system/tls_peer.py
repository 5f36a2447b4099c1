"""A stranger (or a classifier) at a lab agent's door, run inside a lab namespace:
sends one sealed message over a connection made as told and prints, as JSON,
the agent's reply or why there was none.

    python tests/system/tls_peer.py HOST PORT BLOB_HEX [--ca F] [--cert F --key F]

No `--ca`: plaintext. `--ca` alone: TLS without a client certificate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
from pathlib import Path

from controller.handoff.agent_protocol import AgentClient, AgentError
from controller.handoff.tls import TlsFiles


def _context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if args.ca is None:
        return None
    if args.cert is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(args.ca)
        return context
    return TlsFiles(args.ca, args.cert, args.key).client_context()


async def _send(args: argparse.Namespace) -> dict[str, str | None]:
    client = AgentClient(args.host, args.port, ssl_context=_context(args), connect_timeout=5)
    try:
        reply = await client.request(bytes.fromhex(args.blob), timeout=5)
    except AgentError as exc:
        return {"reply": None, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        await client.close()
    return {"reply": reply.reason, "error": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("blob")
    parser.add_argument("--ca", type=Path)
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    print(json.dumps(asyncio.run(_send(parser.parse_args()))))


if __name__ == "__main__":
    main()
