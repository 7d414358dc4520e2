-- The oracle workload: every kind of WAL a Postgres 15 server commonly
-- writes. Run by psql -v ON_ERROR_STOP=1 against a fresh cluster.

-- Heap, B-tree, TOAST, COPY
CREATE TABLE t (id int PRIMARY KEY, v text, n numeric);
INSERT INTO t SELECT g, repeat(md5(g::text), (g % 40) + 1), g * 1.5 FROM generate_series(1, 20000) g;
COPY t (id, v, n) FROM stdin;
100001	copied row one	1
100002	copied row two	2
100003	copied row three	3
\.
UPDATE t SET v = v || 'x' WHERE id % 7 = 0;
UPDATE t SET n = n + 1 WHERE id % 13 = 0;
DELETE FROM t WHERE id % 11 = 0;
CREATE TABLE toasty (id int, doc text);
ALTER TABLE toasty ALTER doc SET STORAGE EXTERNAL;
INSERT INTO toasty SELECT g, repeat(md5(g::text), 500) FROM generate_series(1, 60) g;
UPDATE toasty SET doc = doc || 'tail' WHERE id % 3 = 0;

-- Full-page images compressed with each method.
ALTER SYSTEM SET wal_compression = 'lz4';
SELECT pg_reload_conf();
CHECKPOINT;
UPDATE t SET n = n + 1 WHERE id % 5 = 0;
ALTER SYSTEM SET wal_compression = 'zstd';
SELECT pg_reload_conf();
CHECKPOINT;
UPDATE t SET n = n + 1 WHERE id % 5 = 1;
ALTER SYSTEM SET wal_compression = 'off';
SELECT pg_reload_conf();
CHECKPOINT;
UPDATE t SET n = n + 1 WHERE id % 5 = 2;
ALTER SYSTEM SET wal_compression = 'pglz';
SELECT pg_reload_conf();
CHECKPOINT;
UPDATE t SET n = n + 1 WHERE id % 5 = 3;

-- Hash, GIN, GiST, SP-GiST, BRIN
CREATE TABLE idx (id int, h int, arr int[], pt point, txt text, r int4range);
INSERT INTO idx SELECT g, g % 1000, ARRAY[g % 10, g % 100, g], point(g % 100, g / 100),
  md5(g::text), int4range(g, g + 10) FROM generate_series(1, 5000) g;
CREATE INDEX idx_hash ON idx USING hash (h);
CREATE INDEX idx_gin ON idx USING gin (arr);
CREATE INDEX idx_gist ON idx USING gist (pt);
CREATE INDEX idx_spgist ON idx USING spgist (txt);
CREATE INDEX idx_gist_range ON idx USING gist (r);
CREATE INDEX idx_brin ON idx USING brin (id) WITH (pages_per_range = 4);
INSERT INTO idx SELECT g, g % 1000, ARRAY[g % 10, g], point(g % 50, g / 50), md5(g::text),
  int4range(g, g + 5) FROM generate_series(5001, 12000) g;
DELETE FROM idx WHERE id % 3 = 0;
VACUUM idx;
SELECT brin_summarize_new_values('idx_brin');

-- Sequences
CREATE SEQUENCE s;
SELECT count(nextval('s')) FROM generate_series(1, 200);
CREATE TABLE serial_t (id serial PRIMARY KEY, x int);
INSERT INTO serial_t (x) SELECT g FROM generate_series(1, 100) g;

-- Subtransactions, including enough to log XLOG_XACT_ASSIGNMENT
BEGIN;
INSERT INTO t VALUES (200001, 'sub', 0);
SAVEPOINT a;
INSERT INTO t VALUES (200002, 'rolled back', 0);
ROLLBACK TO a;
SAVEPOINT b;
INSERT INTO t VALUES (200003, 'released', 0);
RELEASE b;
COMMIT;
DO $$
BEGIN
  FOR i IN 1..100 LOOP
    BEGIN
      INSERT INTO t VALUES (300000 + i, 'sub loop', i);
      IF i % 10 = 0 THEN RAISE EXCEPTION 'roll back %', i; END IF;
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
  END LOOP;
END $$;

-- Two-phase commit
BEGIN;
INSERT INTO t VALUES (400001, 'prepared commit', 0);
PREPARE TRANSACTION 'p1';
COMMIT PREPARED 'p1';
BEGIN;
INSERT INTO t VALUES (400002, 'prepared abort', 0);
PREPARE TRANSACTION 'p2';
ROLLBACK PREPARED 'p2';
BEGIN;
INSERT INTO t VALUES (400003, 'prepared subxact', 0);
SAVEPOINT s1;
INSERT INTO t VALUES (400004, 'prepared subxact 2', 0);
PREPARE TRANSACTION 'p3';
COMMIT PREPARED 'p3';

-- Aborted transaction
BEGIN;
INSERT INTO t VALUES (500001, 'aborted', 0);
ROLLBACK;

-- TRUNCATE, unlogged tables, DROP
CREATE TABLE tr AS SELECT g AS id FROM generate_series(1, 3000) g;
TRUNCATE tr;
INSERT INTO tr SELECT g FROM generate_series(1, 10) g;
CREATE UNLOGGED TABLE u (a int PRIMARY KEY, b text);
INSERT INTO u SELECT g, 'unlogged' FROM generate_series(1, 1000) g;
CREATE TABLE dropme AS SELECT g FROM generate_series(1, 100) g;
DROP TABLE dropme;

-- Row locks shared by two transactions would need two sessions; a single
-- FOR SHARE plus FOR KEY SHARE still logs heap LOCK records.
BEGIN;
SELECT count(*) FROM (SELECT * FROM t WHERE id < 50 FOR SHARE) x;
COMMIT;

-- VACUUM, VACUUM FULL, FREEZE; a VACUUM that truncates the relation's tail
CREATE TABLE shrink AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 10000) g;
DELETE FROM shrink WHERE id > 100;
VACUUM shrink;
VACUUM t;
VACUUM (FREEZE) idx;
VACUUM FULL toasty;
CLUSTER serial_t USING serial_t_pkey;

-- Databases with both strategies
CREATE DATABASE db_wal_log STRATEGY wal_log;
CREATE DATABASE db_file_copy STRATEGY file_copy;
DROP DATABASE db_file_copy;

-- Logical message and a restore point
SELECT pg_logical_emit_message(true, 'neon-test', 'hello');
SELECT pg_create_restore_point('oracle');
SELECT pg_switch_wal();
INSERT INTO t VALUES (600001, 'after switch', 0);
CHECKPOINT;
