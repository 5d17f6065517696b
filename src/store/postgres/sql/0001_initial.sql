-- elicence schema, version 1. Applied by src/store/postgres/schema.rs in one transaction
-- under an advisory lock. Every text key is COLLATE "C", so ORDER BY is byte order, as
-- in the embedded store's keys. Signed values keep their key id, signature and exact
-- signed bytes.

-- A licence version: the record and the columns its indexes need.
CREATE TABLE records (
  identifier       text COLLATE "C" NOT NULL,
  type_code        text COLLATE "C" NOT NULL,
  licence_number   text COLLATE "C" NOT NULL,
  holder_code_type text COLLATE "C" NOT NULL,
  holder_code      text COLLATE "C" NOT NULL,
  issuer_code      text COLLATE "C" NOT NULL,
  issue_date       text COLLATE "C" NOT NULL,
  key_id           text NOT NULL,
  signature        bytea NOT NULL CHECK (octet_length(signature) = 64),
  bytes            bytea NOT NULL,
  CONSTRAINT records_pk PRIMARY KEY (identifier)
);
CREATE INDEX records_by_holder ON records (holder_code_type, holder_code, identifier);
CREATE INDEX records_by_type   ON records (type_code, issue_date, identifier);
CREATE INDEX records_by_issuer ON records (issuer_code, issue_date, identifier);

-- (type, number) -> its current version: a number is used once per type.
CREATE TABLE licence_numbers (
  type_code      text COLLATE "C" NOT NULL,
  licence_number text COLLATE "C" NOT NULL,
  identifier     text COLLATE "C" NOT NULL,
  CONSTRAINT licence_numbers_pk PRIMARY KEY (type_code, licence_number)
);

-- A licence's signed events: 0, 1, 2, ... with no gap and no fork, by constraint.
CREATE TABLE events (
  identifier text COLLATE "C" NOT NULL,
  seq        integer NOT NULL CHECK (seq >= 0),
  prev_seq   integer,
  key_id     text NOT NULL,
  signature  bytea NOT NULL CHECK (octet_length(signature) = 64),
  bytes      bytea NOT NULL,
  CONSTRAINT events_pk PRIMARY KEY (identifier, seq),
  CONSTRAINT events_prev CHECK ((seq = 0 AND prev_seq IS NULL) OR prev_seq = seq - 1),
  CONSTRAINT events_of_record FOREIGN KEY (identifier) REFERENCES records (identifier),
  CONSTRAINT events_follow FOREIGN KEY (identifier, prev_seq) REFERENCES events (identifier, seq)
);

-- A caller's request id -> the licence it made (idempotent retries).
CREATE TABLE requests (
  caller     text COLLATE "C" NOT NULL,
  request_id text COLLATE "C" NOT NULL,
  identifier text COLLATE "C" NOT NULL,
  CONSTRAINT requests_pk PRIMARY KEY (caller, request_id)
);

-- A migrated row's source key -> its licence (exactly-once imports).
CREATE TABLE import_keys (
  import_key text COLLATE "C" NOT NULL,
  identifier text COLLATE "C" NOT NULL,
  CONSTRAINT import_keys_pk PRIMARY KEY (import_key)
);

CREATE TABLE catalog (
  code         text COLLATE "C" NOT NULL,
  licence_type text NOT NULL,
  CONSTRAINT catalog_pk PRIMARY KEY (code)
);

CREATE TABLE templates (
  id      text COLLATE "C" NOT NULL,
  version integer NOT NULL CHECK (version >= 1),
  text    text NOT NULL,
  put_by  text NOT NULL,
  put_at  text NOT NULL,
  CONSTRAINT templates_pk PRIMARY KEY (id, version)
);

-- Bumped by every catalogue or template change, so replicas know to reload.
CREATE TABLE config_generation (
  id         smallint NOT NULL CHECK (id = 0),
  generation bigint NOT NULL,
  CONSTRAINT config_generation_pk PRIMARY KEY (id)
);
INSERT INTO config_generation VALUES (0, 0);

-- Serial numbers, reserved in blocks inside committed transactions (a SEQUENCE is not
-- transactional and could hand a block out twice across a failover).
CREATE TABLE serial_counter (
  id   smallint NOT NULL CHECK (id = 0),
  next bigint NOT NULL CHECK (next >= 0),
  CONSTRAINT serial_counter_pk PRIMARY KEY (id)
);
INSERT INTO serial_counter VALUES (0, 0);

-- The one access-audit chain every replica appends to: appenders lock the head row, so
-- batches follow each other; seq and prev_seq make a gap or a fork impossible.
CREATE TABLE audit_head (
  chain       smallint NOT NULL CHECK (chain = 0),
  next_seq    bigint NOT NULL CHECK (next_seq >= 0),
  prev_digest bytea NOT NULL CHECK (octet_length(prev_digest) = 32),
  last_at     text NOT NULL,
  CONSTRAINT audit_head_pk PRIMARY KEY (chain)
);
INSERT INTO audit_head VALUES (0, 0, decode(repeat('00', 32), 'hex'), '');

CREATE TABLE audit_log (
  chain     smallint NOT NULL,
  seq       bigint NOT NULL CHECK (seq >= 0),
  prev_seq  bigint,
  key_id    text NOT NULL,
  signature bytea NOT NULL CHECK (octet_length(signature) = 64),
  bytes     bytea NOT NULL,
  CONSTRAINT audit_log_pk PRIMARY KEY (chain, seq),
  CONSTRAINT audit_prev CHECK ((seq = 0 AND prev_seq IS NULL) OR prev_seq = seq - 1),
  CONSTRAINT audit_follow FOREIGN KEY (chain, prev_seq) REFERENCES audit_log (chain, seq)
);
