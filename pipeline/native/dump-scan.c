/*
 * Reads a logical dump as domain/dump-fingerprint.ts (format 4) does, and does in C the part that
 * costs: each INSERT statement's rows are counted and its bytes hashed with XXH3-128 into its
 * table's hash. Every other byte (comments, definitions, the newline after a statement) is
 * passed on for Node to read as before. In JavaScript the statements' scan was about 0.9 s of the
 * worker's CPU per GiB (the copy's reads, the search for quotes and parentheses, the hash).
 *
 * It mirrors the TypeScript reader line for line: a line's first 64 KiB (its head) decide what it
 * is; an INSERT is a head matching /^INSERT INTO `name`.*? VALUES/ once a section marker was
 * seen; its rows are the `(` outside strings up to its `;`, and what follows the `;` in its head is
 * dropped. The table's key is the database of the last `-- Current Database:` marker and the
 * statement's table name, as bytes. Two known differences, in dumps no dump tool writes: a table
 * name that the regex matches only by backtracking (a `` pair taken as the closing quote) is not
 * read as an INSERT here, and a comment line's markers are read from its first 64 KiB of bytes
 * (Node decodes them as UTF-8 first). Node notices the first (it sees an INSERT it did not expect)
 * and fails the fingerprint rather than record a wrong one.
 *
 * Records written to `out`, each a type byte and a little-endian u32 payload length:
 *   'R' bytes                      bytes of the dump that are not INSERT statements, in order
 *   'I' u32 id, u64 rows, u8 ended, name
 *                                  an INSERT statement in their place: its table's id, the rows
 *                                  it holds, whether it ended with `;` (or with the dump), and
 *                                  the table's name as written (`` read as `)
 *   'H' u32 id, 16 bytes           at the end, each table's XXH3-128, canonical (big-endian)
 *   'E'                            the end: every byte of the dump was read
 */
#define _GNU_SOURCE
#define XXH_INLINE_ALL
#include "dump-scan.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

enum { HEAD_BYTES = 64 * 1024, OUT_BYTES = 256 * 1024, FRAME_HEADER = 5 };

enum mode { LINE_START, HEAD, REST, INSERT };

struct table {
  uint32_t id;
  unsigned char *database, *name;
  size_t database_length, name_length;
  uint64_t key_hash;
  XXH3_state_t *state;
  struct table *next_in_bucket;
};

struct dump_scan {
  int out;
  enum mode mode;
  unsigned char head[HEAD_BYTES];
  size_t head_length;
  /* REST: whether the line is a comment, and its first bytes for the section markers. */
  int rest_comment;
  unsigned char comment[HEAD_BYTES];
  size_t comment_length;
  int section_seen;
  unsigned char database[HEAD_BYTES];
  size_t database_length;
  /* An INSERT's table name, `` read as `, while its table is looked up. */
  unsigned char name[HEAD_BYTES];
  /* INSERT: the statement's table, rows so far and string state. */
  struct table *table;
  uint64_t rows;
  int in_quote, escaped;
  struct table **tables, **buckets;
  size_t table_count, table_capacity, bucket_count;
  unsigned char buffer[OUT_BYTES];
  size_t buffered, raw_frame;
  int raw_open;
};

static void put_u32(unsigned char *at, uint32_t value) {
  for (int i = 0; i < 4; i++) at[i] = (unsigned char)(value >> (8 * i));
}

static int flush(struct dump_scan *scan) {
  scan->raw_open = 0;
  for (size_t at = 0; at < scan->buffered;) {
    ssize_t written = write(scan->out, scan->buffer + at, scan->buffered - at);
    if (written < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    at += (size_t)written;
  }
  scan->buffered = 0;
  return 0;
}

/* Appends to the open 'R' record, or opens one. */
static int emit_raw(struct dump_scan *scan, const unsigned char *bytes, size_t length) {
  while (length > 0) {
    if (!scan->raw_open) {
      if (OUT_BYTES - scan->buffered <= FRAME_HEADER && flush(scan) < 0) return -1;
      scan->raw_frame = scan->buffered;
      scan->buffer[scan->buffered] = 'R';
      scan->buffered += FRAME_HEADER;
      scan->raw_open = 1;
    }
    size_t room = OUT_BYTES - scan->buffered, taken = length < room ? length : room;
    memcpy(scan->buffer + scan->buffered, bytes, taken);
    scan->buffered += taken;
    bytes += taken;
    length -= taken;
    put_u32(scan->buffer + scan->raw_frame + 1, (uint32_t)(scan->buffered - scan->raw_frame - FRAME_HEADER));
    if (scan->buffered == OUT_BYTES && flush(scan) < 0) return -1;
  }
  return 0;
}

/* A record of `length` bytes: the fixed part, then `tail` (a name) if any. */
static int emit_record(struct dump_scan *scan, char type, const unsigned char *fixed, size_t fixed_length,
                       const unsigned char *tail, size_t tail_length) {
  scan->raw_open = 0;
  size_t length = fixed_length + tail_length;
  if (OUT_BYTES - scan->buffered < FRAME_HEADER + length && flush(scan) < 0) return -1;
  unsigned char *at = scan->buffer + scan->buffered;
  at[0] = (unsigned char)type;
  put_u32(at + 1, (uint32_t)length);
  memcpy(at + FRAME_HEADER, fixed, fixed_length);
  if (tail_length > 0) memcpy(at + FRAME_HEADER + fixed_length, tail, tail_length);
  scan->buffered += FRAME_HEADER + length;
  return 0;
}

static int emit_statement(struct dump_scan *scan, int ended) {
  unsigned char fixed[13];
  put_u32(fixed, scan->table->id);
  put_u32(fixed + 4, (uint32_t)scan->rows);
  put_u32(fixed + 8, (uint32_t)(scan->rows >> 32));
  fixed[12] = (unsigned char)ended;
  return emit_record(scan, 'I', fixed, sizeof fixed, scan->table->name, scan->table->name_length);
}

static uint64_t key_hash(const unsigned char *database, size_t database_length, const unsigned char *name, size_t name_length) {
  return XXH3_64bits_withSeed(name, name_length, XXH3_64bits(database, database_length));
}

static int grow_buckets(struct dump_scan *scan) {
  size_t count = scan->bucket_count ? scan->bucket_count * 2 : 1024;
  struct table **buckets = calloc(count, sizeof *buckets);
  if (!buckets) return -1;
  for (size_t i = 0; i < scan->table_count; i++) {
    struct table *table = scan->tables[i];
    table->next_in_bucket = buckets[table->key_hash & (count - 1)];
    buckets[table->key_hash & (count - 1)] = table;
  }
  free(scan->buckets);
  scan->buckets = buckets;
  scan->bucket_count = count;
  return 0;
}

static unsigned char *copy_of(const unsigned char *bytes, size_t length) {
  unsigned char *copy = malloc(length ? length : 1);
  if (copy) memcpy(copy, bytes, length);
  return copy;
}

/* The table of the current database with this name, made on first sight. NULL when out of memory. */
static struct table *table_named(struct dump_scan *scan, const unsigned char *name, size_t name_length) {
  uint64_t hash = key_hash(scan->database, scan->database_length, name, name_length);
  if (scan->bucket_count) {
    for (struct table *t = scan->buckets[hash & (scan->bucket_count - 1)]; t; t = t->next_in_bucket) {
      if (t->key_hash == hash && t->name_length == name_length && t->database_length == scan->database_length &&
          memcmp(t->name, name, name_length) == 0 && memcmp(t->database, scan->database, scan->database_length) == 0)
        return t;
    }
  }
  if (scan->table_count >= scan->bucket_count * 2 && grow_buckets(scan) < 0) return NULL;
  if (scan->table_count == scan->table_capacity) {
    size_t capacity = scan->table_capacity ? scan->table_capacity * 2 : 64;
    struct table **tables = realloc(scan->tables, capacity * sizeof *tables);
    if (!tables) return NULL;
    scan->tables = tables;
    scan->table_capacity = capacity;
  }
  struct table *table = calloc(1, sizeof *table);
  if (!table) return NULL;
  table->id = (uint32_t)scan->table_count;
  table->key_hash = hash;
  table->database = copy_of(scan->database, scan->database_length);
  table->database_length = scan->database_length;
  table->name = copy_of(name, name_length);
  table->name_length = name_length;
  table->state = XXH3_createState();
  if (!table->database || !table->name || !table->state) return NULL;
  XXH3_128bits_reset(table->state);
  scan->tables[scan->table_count++] = table;
  table->next_in_bucket = scan->buckets[hash & (scan->bucket_count - 1)];
  scan->buckets[hash & (scan->bucket_count - 1)] = table;
  return table;
}

/*
 * /`((?:[^`]|``)+)`/ at the backtick `open`: the greedy match, or when no single backtick closes
 * it before the end, the last `` pair's first backtick. The name's end, or 0 for no match.
 */
static size_t identifier_end(const unsigned char *text, size_t length, size_t open) {
  size_t at = open + 1, last_pair = 0;
  while (at < length) {
    if (text[at] != '`') at += 1;
    else if (at + 1 < length && text[at + 1] == '`') last_pair = at, at += 2;
    else break;
  }
  if (at < length && at > open + 1) return at;
  return last_pair > open + 1 ? last_pair : 0;
}

/* The name between open + 1 and end with `` read as `, into `name`; its length. */
static size_t unescape_identifier(const unsigned char *text, size_t open, size_t end, unsigned char *name) {
  size_t length = 0;
  for (size_t at = open + 1; at < end; at++) {
    name[length++] = text[at];
    if (text[at] == '`') at++;
  }
  return length;
}

static int starts_with(const unsigned char *text, size_t length, const char *prefix) {
  size_t prefix_length = strlen(prefix);
  return length >= prefix_length && memcmp(text, prefix, prefix_length) == 0;
}

/* What JavaScript's trim() removes of a latin1 string. */
static int is_blank(unsigned char byte) { return (byte >= 0x09 && byte <= 0x0d) || byte == ' ' || byte == 0xa0; }

/* The section markers that domain/dump-fingerprint.ts endComment reads: whether one was seen, and the database. */
static void end_comment(struct dump_scan *scan) {
  const unsigned char *text = scan->comment;
  size_t length = scan->comment_length;
  while (length > 0 && is_blank(text[0])) text++, length--;
  while (length > 0 && is_blank(text[length - 1])) length--;
  size_t open = 0, end = 0;
  for (size_t from = 0; from < length && !end; from = open + 1) {
    const unsigned char *tick = memchr(text + from, '`', length - from);
    if (!tick) break;
    open = (size_t)(tick - text);
    end = identifier_end(text, length, open);
  }
  if (starts_with(text, length, "-- Current Database:") && end) {
    scan->database_length = unescape_identifier(text, open, end, scan->database);
    scan->section_seen = 1;
  } else if (end && (starts_with(text, length, "-- Table structure for table ") || starts_with(text, length, "-- Dumping data for table ") ||
                     starts_with(text, length, "-- Temporary table structure for view ") ||
                     starts_with(text, length, "-- Temporary view structure for view ") ||
                     starts_with(text, length, "-- Final view structure for view "))) {
    scan->section_seen = 1;
  } else if (starts_with(text, length, "-- Dumping events for database ") || starts_with(text, length, "-- Dumping routines for database ")) {
    scan->section_seen = 1;
  }
}

static size_t read_rest(struct dump_scan *scan, const unsigned char *bytes, size_t length, size_t at, int *failed) {
  const unsigned char *newline = memchr(bytes + at, '\n', length - at);
  size_t end = newline ? (size_t)(newline - bytes) + 1 : length;
  if (scan->rest_comment && scan->comment_length < HEAD_BYTES) {
    size_t taken = end - at < HEAD_BYTES - scan->comment_length ? end - at : HEAD_BYTES - scan->comment_length;
    memcpy(scan->comment + scan->comment_length, bytes + at, taken);
    scan->comment_length += taken;
  }
  if (emit_raw(scan, bytes + at, end - at) < 0) *failed = 1;
  if (newline) {
    if (scan->rest_comment) end_comment(scan);
    scan->mode = LINE_START;
  }
  return end;
}

/*
 * Counts an INSERT statement's rows and hashes it, up to its `;`: outside a string a `(` opens a
 * row and a `;` ends the statement; a string ends at a quote after an even run of backslashes.
 */
static size_t read_insert(struct dump_scan *scan, const unsigned char *bytes, size_t length, size_t at, int *failed) {
  size_t i = at;
  int in_quote = scan->in_quote, escaped = scan->escaped, ended = 0;
  uint64_t rows = 0;
  while (i < length) {
    if (in_quote) {
      if (escaped) {
        escaped = 0;
        i += 1;
        continue;
      }
      const unsigned char *quote = memchr(bytes + i, '\'', length - i);
      size_t run_end = quote ? (size_t)(quote - bytes) : length, run = 0;
      while (run_end - run > i && bytes[run_end - run - 1] == '\\') run += 1;
      if (!quote) {
        escaped = run % 2 == 1;
        i = length;
      } else {
        if (run % 2 == 0) in_quote = 0;
        i = run_end + 1;
      }
      continue;
    }
    unsigned char byte = bytes[i++];
    if (byte == '(') rows += 1;
    else if (byte == '\'') in_quote = 1;
    else if (byte == ';') {
      ended = 1;
      break;
    }
  }
  XXH3_128bits_update(scan->table->state, bytes + at, i - at);
  scan->rows += rows;
  scan->in_quote = in_quote;
  scan->escaped = escaped;
  if (ended) {
    if (emit_statement(scan, 1) < 0) *failed = 1;
    scan->mode = REST;
    scan->rest_comment = 0;
  }
  return i;
}

/* /^INSERT INTO `name`.*? VALUES/ on the head: the end of ` VALUES`, and the name's backticks. */
static size_t insert_values_end(const unsigned char *head, size_t length, size_t *open, size_t *end) {
  static const char prefix[] = "INSERT INTO `";
  if (!starts_with(head, length, prefix)) return 0;
  *open = sizeof prefix - 2;
  *end = identifier_end(head, length, *open);
  if (!*end) return 0;
  /* `.` matches no line terminator: a carriage return ends the search. */
  const unsigned char *carriage_return = memchr(head + *end + 1, '\r', length - *end - 1);
  size_t searched = carriage_return ? (size_t)(carriage_return - head) : length;
  const unsigned char *values = memmem(head + *end + 1, searched - *end - 1, " VALUES", 7);
  return values ? (size_t)(values - head) + 7 : 0;
}

/* Decides what the line is from its head, then reads the head as what it is. */
static int classify(struct dump_scan *scan) {
  int failed = 0;
  const unsigned char *head = scan->head;
  size_t length = scan->head_length, open, end;
  size_t values = scan->section_seen ? insert_values_end(head, length, &open, &end) : 0;
  if (values) {
    size_t name_length = unescape_identifier(head, open, end, scan->name);
    scan->table = table_named(scan, scan->name, name_length);
    if (!scan->table) return -1;
    XXH3_128bits_update(scan->table->state, head, values);
    scan->rows = 0;
    scan->in_quote = scan->escaped = 0;
    scan->mode = INSERT;
    read_insert(scan, head, length, values, &failed);
    return failed ? -1 : 0;
  }
  int blank = length < HEAD_BYTES;
  for (size_t i = 0; blank && i < length; i++) blank = is_blank(head[i]);
  scan->mode = REST;
  scan->rest_comment = starts_with(head, length, "--") || blank;
  scan->comment_length = 0;
  read_rest(scan, head, length, 0, &failed);
  return failed ? -1 : 0;
}

static size_t read_head(struct dump_scan *scan, const unsigned char *bytes, size_t length, size_t at, int *failed) {
  const unsigned char *newline = memchr(bytes + at, '\n', length - at);
  size_t limit = at + HEAD_BYTES - scan->head_length;
  size_t end = newline ? (size_t)(newline - bytes) : length;
  if (end > limit) end = limit;
  memcpy(scan->head + scan->head_length, bytes + at, end - at);
  scan->head_length += end - at;
  if ((newline && end == (size_t)(newline - bytes)) || scan->head_length >= HEAD_BYTES) {
    if (classify(scan) < 0) *failed = 1;
  }
  return end;
}

struct dump_scan *dump_scan_new(int out) {
  struct dump_scan *scan = calloc(1, sizeof *scan);
  if (scan) scan->out = out;
  return scan;
}

int dump_scan_push(struct dump_scan *scan, const unsigned char *bytes, size_t length) {
  int failed = 0;
  for (size_t at = 0; at < length && !failed;) {
    switch (scan->mode) {
    case LINE_START:
      scan->mode = HEAD;
      scan->head_length = 0;
      break;
    case HEAD:
      at = read_head(scan, bytes, length, at, &failed);
      break;
    case REST:
      at = read_rest(scan, bytes, length, at, &failed);
      break;
    case INSERT:
      at = read_insert(scan, bytes, length, at, &failed);
      break;
    }
  }
  return failed ? -1 : 0;
}

int dump_scan_finish(struct dump_scan *scan) {
  if (scan->mode == HEAD && classify(scan) < 0) return -1;
  if (scan->mode == REST && scan->rest_comment) end_comment(scan);
  if (scan->mode == INSERT && emit_statement(scan, 0) < 0) return -1;
  for (size_t i = 0; i < scan->table_count; i++) {
    unsigned char fixed[20];
    XXH128_canonical_t digest;
    XXH128_canonicalFromHash(&digest, XXH3_128bits_digest(scan->tables[i]->state));
    put_u32(fixed, scan->tables[i]->id);
    memcpy(fixed + 4, digest.digest, 16);
    if (emit_record(scan, 'H', fixed, sizeof fixed, NULL, 0) < 0) return -1;
  }
  if (emit_record(scan, 'E', NULL, 0, NULL, 0) < 0) return -1;
  return flush(scan);
}
