"""Writes through ironstore in a loop until it is killed (driven by tests/test_crash.py).

Every iteration exercises methods that write several rows and must be all-or-nothing: a
conversation's messages with their `last_activity` bump, `set_all_settings` of 20 keys, a
session with its first checkpoint.
"""

from __future__ import annotations

import asyncio
import sys

import ironstore
from ironstore import CheckpointState, CreateSessionRequest

KEYS_PER_BATCH = 20


async def main(url: str, tag: str) -> None:
    db = await ironstore.connect(url)
    print("ready", flush=True)
    i = 0
    while True:
        conv = await db.create_conversation("crash", "writer", None)
        for j in range(3):
            await db.add_conversation_message(conv, "user", f"{tag} {i} {j}")
        await db.set_all_settings("writer", {f"{tag}.{i}.{n}": n for n in range(KEYS_PER_BATCH)})
        await db.create_session(CreateSessionRequest(
            title=f"{tag} {i}", initial_state=CheckpointState(messages=[{"role": "user", "content": str(i)}]),
        ))
        i += 1


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
