-- Nothing changes on PostgreSQL: it keeps a long row's data out of line
-- (TOAST) and never had SQLite's limit on a WITHOUT ROWID table's rows.
SELECT 1;
