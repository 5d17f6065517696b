-- elicence schema, version 2: the transparency log (src/tlog, docs/TRANSPARENCY.md).
--
-- Every row stored in records, events or audit_log queues its leaf in tlog_pending, by
-- trigger, in the same transaction: whatever writes the row (a replica, COPY, a
-- restore), its leaf is committed with it or not at all. A sequencer (one transaction
-- at a time, under tlog_head's row lock, on whichever replica takes it) gives queued
-- leaves their positions in queue order, stores the tree hashes they complete and
-- removes them from the queue, within moments of their commit.

-- The entry text of a leaf (src/tlog/leaf.rs).
CREATE FUNCTION tlog_entry(kind text, key text, bytes bytea, signature bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT convert_to('elicence-log-v1' || chr(10) || kind || chr(10) || key || chr(10)
                    || encode(sha256(bytes), 'hex') || chr(10) || encode(signature, 'hex') || chr(10), 'UTF8')
$$;

CREATE TABLE tlog_pending (
  id       bigint GENERATED ALWAYS AS IDENTITY,
  leaf_key bytea NOT NULL,
  entry    bytea NOT NULL,
  CONSTRAINT tlog_pending_pk PRIMARY KEY (id),
  CONSTRAINT tlog_pending_key UNIQUE (leaf_key)
);

CREATE TABLE tlog_head (
  log  smallint NOT NULL CHECK (log = 0),
  size bigint NOT NULL CHECK (size >= 0),
  CONSTRAINT tlog_head_pk PRIMARY KEY (log)
);
INSERT INTO tlog_head VALUES (0, 0);

-- Leaf n: what it logs (its key, unique: one leaf per entry) and its entry text.
CREATE TABLE tlog_leaves (
  n        bigint NOT NULL CHECK (n >= 0),
  leaf_key bytea NOT NULL,
  entry    bytea NOT NULL,
  CONSTRAINT tlog_leaves_pk PRIMARY KEY (n),
  CONSTRAINT tlog_leaves_key UNIQUE (leaf_key)
);

-- Stored tree hashes by stored-hash index (src/tlog/tree.rs).
CREATE TABLE tlog_hashes (
  idx  bigint NOT NULL CHECK (idx >= 0),
  hash bytea NOT NULL CHECK (octet_length(hash) = 32),
  CONSTRAINT tlog_hashes_pk PRIMARY KEY (idx)
);

-- Every signed checkpoint, by tree size; the first of a size is kept.
CREATE TABLE tlog_checkpoints (
  size bigint NOT NULL CHECK (size >= 0),
  note bytea NOT NULL,
  CONSTRAINT tlog_checkpoints_pk PRIMARY KEY (size)
);

CREATE FUNCTION tlog_queue_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO tlog_pending (leaf_key, entry)
  VALUES ('\x72'::bytea || convert_to(NEW.identifier, 'UTF8'),
          tlog_entry('record', NEW.identifier, NEW.bytes, NEW.signature));
  RETURN NULL;
END $$;

CREATE FUNCTION tlog_queue_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO tlog_pending (leaf_key, entry)
  VALUES ('\x65'::bytea || convert_to(NEW.identifier, 'UTF8') || '\x00'::bytea || int4send(NEW.seq),
          tlog_entry('event', NEW.identifier || ' ' || NEW.seq, NEW.bytes, NEW.signature));
  RETURN NULL;
END $$;

CREATE FUNCTION tlog_queue_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO tlog_pending (leaf_key, entry)
  VALUES ('\x61'::bytea || int8send(NEW.seq),
          tlog_entry('audit', NEW.seq::text, NEW.bytes, NEW.signature));
  RETURN NULL;
END $$;

CREATE TRIGGER records_logged AFTER INSERT ON records FOR EACH ROW EXECUTE FUNCTION tlog_queue_record();
CREATE TRIGGER events_logged AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION tlog_queue_event();
CREATE TRIGGER audit_logged AFTER INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION tlog_queue_audit();

-- A database written before the log: queue what it holds, records, then events, then
-- audit entries, each in key order.
INSERT INTO tlog_pending (leaf_key, entry)
SELECT '\x72'::bytea || convert_to(identifier, 'UTF8'), tlog_entry('record', identifier, bytes, signature)
FROM records ORDER BY identifier;
INSERT INTO tlog_pending (leaf_key, entry)
SELECT '\x65'::bytea || convert_to(identifier, 'UTF8') || '\x00'::bytea || int4send(seq),
       tlog_entry('event', identifier || ' ' || seq, bytes, signature)
FROM events ORDER BY identifier, seq;
INSERT INTO tlog_pending (leaf_key, entry)
SELECT '\x61'::bytea || int8send(seq), tlog_entry('audit', seq::text, bytes, signature)
FROM audit_log ORDER BY seq;
