"""A coordinator over shards: documents and chunks hash-partitioned by ``doc_id`` over ``postgres_fdw``.

``create_sharded(coordinator, shards)`` makes the store on the coordinator: ``rag_documents`` and ``rag_chunks``
are ``PARTITION BY HASH (doc_id)``, partition *i* a foreign table on shard *i*, where the rows, their HNSW and
full-text indexes live. A document and its chunks hash alike, so a document lives on one shard and is written
in one transaction there. Searches go to the coordinator: pgvector's distance operator is shipped to the shards
(the foreign servers list the ``vector`` extension), and each shard answers from its own indexes. The embedding
cache, the chunk id sequence and the meta stay on the coordinator. Readers and writers use the coordinator's URL
like any store's: nothing else in ``rag`` knows the store is sharded.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import redact
from .connect import connect, sql
from .schema import (
    CHUNKS,
    COORDINATOR,
    DOCUMENTS,
    FORMAT_VERSION,
    create_extension,
    exists,
    now,
    row_tables,
    write_meta,
)


def create_sharded(coordinator: str, shards: Sequence[str], dim: int = 384) -> None:
    """Lay out an empty store on ``coordinator`` hash-partitioned over ``shards`` (URLs as the coordinator's
    server reaches them), for ``dim``-d vectors (384: the bundled all-MiniLM-L6-v2)."""
    from psycopg.conninfo import conninfo_to_dict

    for url in shards:
        with connect(url) as con:
            create_extension(con, url)
            if con.execute("SELECT to_regclass('rag_documents') IS NULL").fetchone()[0]:  # type: ignore[index]
                row_tables(con, dim)
            database = con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
            # the coordinator's sessions on this shard search like ours (rag.pg.connect.SEARCH_OPTIONS)
            con.execute(sql(f'ALTER DATABASE "{database}" SET hnsw.ef_search = 100'))
            con.execute(sql(f'ALTER DATABASE "{database}" SET hnsw.iterative_scan = strict_order'))
    with connect(coordinator) as con, con.transaction():
        if exists(con):
            raise ValueError(f"{redact(coordinator)} already holds a store")
        create_extension(con, coordinator)
        create_extension(con, coordinator, "postgres_fdw")
        for statement in COORDINATOR:
            con.execute(sql(statement))
        con.execute(sql(DOCUMENTS.format(name="rag_documents", suffix=" PARTITION BY HASH (doc_id)")))
        con.execute(sql(CHUNKS.format(name="rag_chunks", dim=dim, suffix=" PARTITION BY HASH (doc_id)")))
        for i, url in enumerate(shards):
            info = conninfo_to_dict(url)
            server = {k: str(v) for k, v in info.items() if k in ("host", "port", "dbname") and v}
            # 50 rows a fetch: the candidates a search asks each ranking for; each row carries its vector, so
            # larger fetches cost (eval/bench_scale.py, 5,000 vectors, k 10: p50 16.6 ms at 100, 11.3 at 50)
            server |= {"extensions": "vector", "fetch_size": "50", "async_capable": "true"}
            options = ", ".join(f"{k} {_literal(v)}" for k, v in server.items())
            con.execute(sql(f"CREATE SERVER rag_shard_{i} FOREIGN DATA WRAPPER postgres_fdw OPTIONS ({options})"))
            mapping = {k: str(v) for k, v in info.items() if k in ("user", "password") and v}
            options = f" OPTIONS ({', '.join(f'{k} {_literal(v)}' for k, v in mapping.items())})" if mapping else ""
            con.execute(sql(f"CREATE USER MAPPING FOR CURRENT_USER SERVER rag_shard_{i}{options}"))
            for table in ("rag_documents", "rag_chunks"):
                con.execute(sql(f"CREATE FOREIGN TABLE {table}_{i} PARTITION OF {table} FOR VALUES WITH "
                                f"(MODULUS {len(shards)}, REMAINDER {i}) SERVER rag_shard_{i} "
                                f"OPTIONS (table_name {_literal(table)})"))
        write_meta(con, {"format_version": FORMAT_VERSION, "layout": "sharded", "created": now(),
                         "shards": [redact(u) for u in shards]})


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rag.pg.sharding COORDINATOR SHARD [SHARD ...] [--dim 384]``: lay out a sharded store."""
    import argparse
    import sys

    from ..errors import RagError

    parser = argparse.ArgumentParser(prog="python -m rag.pg.sharding", description=main.__doc__)
    parser.add_argument("coordinator", help="postgresql:// URL of the coordinator's database")
    parser.add_argument("shards", nargs="+", help="postgresql:// URLs of the shards' databases, as the coordinator "
                        "reaches them")
    parser.add_argument("--dim", type=int, default=384, help="vector dimension of the embedding model (384)")
    args = parser.parse_args(argv)
    try:
        create_sharded(args.coordinator, args.shards, args.dim)
    except (RagError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{redact(args.coordinator)}: a store over {len(args.shards)} shards; index into it with "
          f"rag index --store {redact(args.coordinator)} PATH")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
