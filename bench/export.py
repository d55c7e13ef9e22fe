"""Peak memory of the server while it streams the export of a 100,000-event customer.

    .venv/bin/python -m bench.export [--events 100000]

One customer is seeded with that many events; the export is read through the real
server while the serving process's resident memory is sampled every 20 ms.
"""

import argparse
import asyncio
import time

import asyncpg
import httpx

from app.core.db import plain_url
from app.seed import seed
from bench.harness import resident_mib, running_service, write_results


async def run(events: int) -> dict[str, object]:
    with running_service() as service:
        await seed(service.database_url, 1, events)
        conn = await asyncpg.connect(plain_url(service.database_url))
        customer = await conn.fetchval("SELECT customer_id FROM events LIMIT 1")
        held = await conn.fetchval("SELECT count(*) FROM events WHERE customer_id = $1", customer)
        await conn.close()
        before = resident_mib(service.pid)
        peak = before
        size = 0
        sampling = True

        async def sample() -> None:
            nonlocal peak
            while sampling:
                peak = max(peak, resident_mib(service.pid))
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample())
        began = time.perf_counter()
        headers = {"Authorization": f"Bearer {service.admin_key}"}
        async with (
            httpx.AsyncClient(base_url=service.base_url, timeout=300) as client,
            client.stream("GET", f"/v1/customers/{customer}/export", headers=headers) as response,
        ):
            response.raise_for_status()
            async for chunk in response.aiter_bytes():
                size += len(chunk)
        seconds = time.perf_counter() - began
        sampling = False
        await sampler
    return {
        "events": held,
        "export_mib": round(size / 2**20, 1),
        "seconds": round(seconds, 2),
        "server_rss_before_mib": round(before, 1),
        "server_rss_peak_mib": round(peak, 1),
        "server_rss_growth_mib": round(peak - before, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    figures = asyncio.run(run(parser.parse_args().events))
    for name, value in figures.items():
        print(f"{name:<24} {value}")
    print(f"written to {write_results('export', figures)}")


if __name__ == "__main__":
    main()
