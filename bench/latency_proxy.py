#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that adds latency, for bench/run's `push-latency` scenario.

    latency_proxy.py LISTEN_PORT TARGET_PORT [--delay-ms 20] [--ready-file FILE]

Every chunk read on one side is written to the other side `--delay-ms` later, in both
directions: a round trip through the proxy costs 2 x delay more, as a registry that far away
would. Chunks keep their order and a slow chunk does not hold back the reading of the next
one, so this is latency, not a bandwidth limit. (The kernel here has no `tc netem`.)
The engine treats 127.0.0.0/8 registries as insecure, so it pushes to 127.0.0.1:LISTEN_PORT
over plain HTTP like to the registry behind it. Standard library only; stops on SIGTERM.
"""

import argparse
import asyncio
import signal
import time


async def pipe(reader, writer, delay):
    """Forward reader -> writer, each chunk `delay` seconds after it was read."""
    queue = asyncio.Queue()

    async def read():
        try:
            while True:
                data = await reader.read(65536)
                queue.put_nowait((time.monotonic() + delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            queue.put_nowait((time.monotonic() + delay, b""))

    async def write():
        try:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass

    await asyncio.gather(read(), write())


async def serve(listen, target, delay):
    async def handle(client_reader, client_writer):
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(
                pipe(client_reader, upstream_writer, delay),
                pipe(upstream_reader, client_writer, delay),
            )
        except asyncio.CancelledError:
            pass  # the proxy is stopping
        finally:
            for w in (client_writer, upstream_writer):
                w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    return server


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("listen", type=int)
    p.add_argument("target", type=int)
    p.add_argument("--delay-ms", type=float, default=20.0)
    p.add_argument("--ready-file", help="written once the proxy listens")
    a = p.parse_args()

    async def run():
        server = await serve(a.listen, a.target, a.delay_ms / 1000.0)
        if a.ready_file:
            with open(a.ready_file, "w") as f:
                f.write("ready\n")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, stop.set)
        async with server:
            await stop.wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
