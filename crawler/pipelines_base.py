"""What every litwatch item pipeline shares: the crawler's spider, and a database connection.

Each pipeline opens its own connection when the spider opens (SQLite connections are
cheap, and one per pipeline keeps their transactions independent) and closes it when the
spider closes.
"""

from __future__ import annotations


class CrawlerPipeline:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    @property
    def spider(self):
        return self.crawler.spider


class DbPipeline(CrawlerPipeline):
    db = None

    def open_spider(self):
        from litwatch.db import open_db

        self.db = open_db(self.spider.lw_settings.db_path)

    def close_spider(self):
        if self.db is not None:
            self.db.conn.close()
            self.db = None
