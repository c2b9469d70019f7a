from sqlalchemy import func, select

from ironstore import Database
from ironstore.schema import leak_detection_patterns


async def test_migrated_database_has_seed_rows(db: Database) -> None:
    async with db._read() as conn:
        count = (await conn.execute(select(func.count()).select_from(leak_detection_patterns))).scalar()
    assert count == 18
