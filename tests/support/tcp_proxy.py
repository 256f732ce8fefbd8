"""A TCP proxy for the tests: listens on a free loopback port, prints it, and forwards every
connection to 127.0.0.1:<target port>. Freezing it with SIGSTOP freezes every connection through
it, as a network partition would: nothing is refused, nothing answers."""

import asyncio
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main(target):
    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            pipe(client_reader, server_writer), pipe(server_reader, client_writer)
        )

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main(int(sys.argv[1])))
