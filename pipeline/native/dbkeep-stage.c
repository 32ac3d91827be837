/*
 * dbkeep-stage DIR GROUP_BYTES PART_BYTES [LOAD_DATA_MIN_BYTES] < decompressed dump
 *
 * The staging of a parallel restore (pipeline/restore-staging.ts runs it): reads a mariadb-dump
 * or mysqldump `--databases` dump and writes it into DIR as segment files that client sessions
 * may apply side by side (pipeline/parallel-apply.ts), reporting each segment and each of its
 * parts on standard output as soon as its file is complete. In C because the worker spent 5-6 s
 * of CPU per gigabyte doing this in Node, on a machine where the server needs both cores.
 *
 * Segments (docs/sessions.md, "Parallel restore"): the dump tools write a comment line before
 * every section and escape newlines inside values, so a line-based reader sees every start.
 * - `table`: one table's structure, data and triggers, or a view's stand-in table. Consecutive
 *   tables share a segment until it holds GROUP_BYTES of SQL. A table segment leaves out the
 *   dump's `LOCK TABLES … WRITE` / `UNLOCK TABLES`: while one session holds such a lock, MariaDB
 *   fails another's statements on a table linked by a cascading foreign key (ERROR 1100).
 * - `serial`: everything else, in order, applied alone: the header, CREATE DATABASE and USE,
 *   events, routines, the final views, the footer. A dump without section comments is one
 *   serial segment. Section comments inside a stored program (between `DELIMITER ;;` and
 *   `DELIMITER ;`) are no section starts.
 * Every segment file starts with the session preamble: the header's session settings and the
 * current USE. A table segment's SQL is cut into parts of PART_BYTES after a statement. The files
 * hold plain SQL: compressing them cost more CPU than the apply could spare on a small machine,
 * and the caller removes each once applied. Lines are read one by one, except an INSERT's: the
 * reader jumps from its first line to its end (`;` and a newline; the dump tools escape newlines
 * inside strings), since mariadb-dump puts every row on a line of its own.
 *
 * With LOAD_DATA_MIN_BYTES, a table's extended INSERTs (from that much SQL on) become rows for
 * `LOAD DATA LOCAL INFILE`, which MariaDB applies two to three times faster: only values written
 * alike both ways (numbers, NULL, backslash-escaped strings), only into tables whose every column
 * reads its text alike (no binary strings, BLOBs, BIT, spatial types), and only with the header's
 * `SET NAMES`. Anything else stays SQL, in dump order. A load whose rows are all ASCII declares
 * `CHARACTER SET binary` instead of the header's: ASCII reads the same in every character set the
 * table may use, and the server then copies each value instead of converting it character by
 * character: a latin1 table loads from a utf8mb4 dump in three quarters of the time.
 *
 * Standard output, one line per event, written once the files it names are complete (names are
 * file names in DIR; <hex> is a name's bytes in hexadecimal):
 *   segment serial | segment table <hex>   a segment starts (the table it starts with)
 *   table <hex>                            another table joins the current segment
 *   sql <file>                             a part of SQL statements
 *   load <file> <rows-file> <rows> <hex>   a part loading <rows> rows of a table (its name unquoted)
 *   end <bytes>                            the segment ends; it held <bytes> of SQL, preamble included
 *
 * Exit status: 0 once the whole input is staged; 1 with a line on standard error when reading
 * or writing failed; 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batched-input.h"
#include "write-all.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum { READ_BYTES = 1 << 20, OUT_BUFFER_BYTES = 1 << 20, HEAD_LIMIT = 64 * 1024 };
/* A longer INSERT stays SQL instead of being held: the dump tools cut theirs at net_buffer_length. */
static const uint64_t STATEMENT_LIMIT_BYTES = 64ull * 1024 * 1024;

static void fail(const char *what) {
  fprintf(stderr, "dbkeep-stage: %s: %s\n", what, errno ? strerror(errno) : "failed");
  exit(1);
}

/* ---- growable bytes ---- */

struct bytes {
  char *data;
  size_t len, cap;
};

static void reserve(struct bytes *b, size_t extra) {
  if (b->len + extra <= b->cap) return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + extra) cap *= 2;
  char *data = realloc(b->data, cap);
  errno = ENOMEM;
  if (data == NULL) fail("memory");
  b->data = data;
  b->cap = cap;
}

static void append(struct bytes *b, const char *p, size_t n) {
  reserve(b, n);
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static bool starts(const char *p, size_t n, const char *prefix) {
  size_t k = strlen(prefix);
  return n >= k && memcmp(p, prefix, k) == 0;
}

static bool ends_statement(const char *p, size_t n) {
  if (n > 0 && p[n - 1] == '\n') n--;
  return n > 0 && p[n - 1] == ';';
}

/* JavaScript's whitespace among single bytes read as latin1 (the reader this replaced). */
static bool is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0; }
static bool is_word(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

/* ---- output files and events ---- */

static const char *dir;
static unsigned file_count;

struct out_file {
  int fd;
  char name[64];
  struct bytes pending;
};

static void write_segment(int fd, const char *p, size_t n) {
  if (write_all(fd, p, n) < 0) fail("writing a segment file");
}

static void path_of(char *path, const char *name) {
  if (snprintf(path, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX) {
    errno = ENAMETOOLONG;
    fail(dir);
  }
}

static void next_name(char *name, const char *suffix) { snprintf(name, 64, "%06u-%s", file_count++, suffix); }

static void out_open(struct out_file *f, const char *suffix) {
  char path[PATH_MAX];
  next_name(f->name, suffix);
  path_of(path, f->name);
  f->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (f->fd < 0) fail(path);
  f->pending.len = 0;
}

static void out_flush(struct out_file *f) {
  write_segment(f->fd, f->pending.data, f->pending.len);
  f->pending.len = 0;
}

static void out_write(struct out_file *f, const char *p, size_t n) {
  if (f->pending.len + n > OUT_BUFFER_BYTES) out_flush(f);
  if (n >= OUT_BUFFER_BYTES) write_segment(f->fd, p, n);
  else append(&f->pending, p, n);
}

static void out_close(struct out_file *f) {
  out_flush(f);
  if (close(f->fd) < 0) fail("closing a segment file");
  f->fd = -1;
}

static void emit_hex(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) printf("%02x", (unsigned char)p[i]);
}

static void emit_done(void) {
  putchar('\n');
  if (fflush(stdout) != 0) fail("standard output");
}

/* ---- the segmenter: where segments start, and what each session runs first ---- */

enum kind { NONE, SERIAL, TABLE };

static bool in_header = true, in_stored_program = false;
static enum kind reading = SERIAL;
static struct bytes settings, use_line;

static const char *const TABLE_MARKERS[] = {"-- Table structure for table ", "-- Temporary table structure for view "};
static const char *const SERIAL_MARKERS[] = {"-- Current Database: ", "-- Dumping events for database ",
                                             "-- Dumping routines for database ", "-- Final view structure for view "};

/* `` `film_actor` `` → film_actor, for messages: what precedes the next backquote, trimmed. */
static void table_name(const char *p, size_t n, const char **name, size_t *length) {
  if (n > 0 && p[0] == '`') p++, n--;
  const char *quote = memchr(p, '`', n);
  if (quote) n = (size_t)(quote - p);
  while (n > 0 && is_space((unsigned char)p[0])) p++, n--;
  while (n > 0 && is_space((unsigned char)p[n - 1])) n--;
  *name = p;
  *length = n;
}

static bool is_delimiter_end(const char *p, size_t n) {
  while (n > 0 && is_space((unsigned char)p[0])) p++, n--;
  while (n > 0 && is_space((unsigned char)p[n - 1])) n--;
  return n == 11 && memcmp(p, "DELIMITER ;", 11) == 0;
}

/* Reads one line; returns the kind of segment it starts, or NONE when it continues the current one. */
static enum kind segmenter_read(const char *p, size_t n, const char **name, size_t *name_length) {
  if (starts(p, n, "DELIMITER ")) {
    in_stored_program = !is_delimiter_end(p, n);
    return NONE;
  }
  if (in_stored_program) return NONE;
  enum kind start = NONE;
  for (size_t i = 0; i < 2 && start == NONE; i++) {
    if (starts(p, n, TABLE_MARKERS[i])) {
      size_t k = strlen(TABLE_MARKERS[i]);
      table_name(p + k, n - k, name, name_length);
      start = TABLE;
    }
  }
  for (size_t i = 0; i < 4 && start == NONE; i++)
    if (starts(p, n, SERIAL_MARKERS[i])) start = SERIAL;
  // A database switch never belongs to a table segment, whatever wrote the dump.
  if (start == NONE && reading == TABLE && (starts(p, n, "USE ") || starts(p, n, "CREATE DATABASE "))) start = SERIAL;
  if (start != NONE) {
    in_header = false;
    reading = start;
    return start;
  }
  if (in_header && (starts(p, n, "/*!") || starts(p, n, "/*M!") || starts(p, n, "SET "))) append(&settings, p, n);
  if (starts(p, n, "USE ")) {
    use_line.len = 0;
    append(&use_line, p, n);
  }
  return NONE;
}

static bool segmenter_keeps(const char *p, size_t n) {
  return reading != TABLE || !(starts(p, n, "LOCK TABLES `") || starts(p, n, "UNLOCK TABLES;"));
}

static void session_preamble(struct bytes *out) {
  out->len = 0;
  append(out, settings.data, settings.len);
  if (use_line.len > 0) {
    append(out, use_line.data, use_line.len);
    if (use_line.data[use_line.len - 1] != '\n') append(out, "\n", 1);
  }
}

/* The character set of the header's first `SET NAMES`, or false without one. */
static bool character_set(const char **name, size_t *length) {
  const char *p = settings.data;
  size_t n = settings.len;
  for (const char *at = p; at != NULL && (size_t)(at - p) < n;) {
    at = memmem(at, n - (size_t)(at - p), "SET NAMES ", 10);
    if (at == NULL) break;
    const char *value = at + 10, *end = value;
    while ((size_t)(end - p) < n && is_word((unsigned char)*end)) end++;
    if ((at == p || !is_word((unsigned char)at[-1])) && end > value) {
      *name = value;
      *length = (size_t)(end - value);
      return true;
    }
    at += 1;
  }
  return false;
}

/* A backquoted name from `at` (`` `a``b` ``): the index after its closing quote, or 0 when there is none. */
static size_t quoted_name_end(const char *p, size_t n, size_t at) {
  if (at >= n || p[at] != '`') return 0;
  size_t start = ++at;
  for (;;) {
    if (at >= n) return 0;
    if (p[at] != '`') at++;
    else if (at + 1 < n && p[at + 1] == '`') at += 2;
    else break;
  }
  return at > start ? at + 1 : 0;
}

/* ---- which tables LOAD DATA reads alike ---- */

static const char *const LOADABLE_TYPES[] = {"tinyint", "smallint", "mediumint", "int",      "integer",    "bigint",   "decimal",
                                             "numeric", "float",    "double",    "real",     "char",       "varchar",  "tinytext",
                                             "text",    "mediumtext", "longtext", "date",    "time",       "datetime", "timestamp",
                                             "year",    "enum",     "set"};

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

/* Whether `text` (lower case) is in p[0..n), ignoring case; as a whole word only with `whole_word`. */
static bool contains_ignoring_case(const char *p, size_t n, const char *text, bool whole_word) {
  size_t k = strlen(text);
  for (size_t i = 0; i + k <= n; i++) {
    size_t j = 0;
    while (j < k && lower(p[i + j]) == text[j]) j++;
    if (j < k) continue;
    if (!whole_word || ((i == 0 || !is_word((unsigned char)p[i - 1])) && (i + k == n || !is_word((unsigned char)p[i + k])))) return true;
  }
  return false;
}

/* One column line of SHOW CREATE TABLE (`  \`name\` type …`): whether its type reads alike. */
static bool column_reads_alike(const char *p, size_t n) {
  size_t at = 0;
  while (at < n && is_space((unsigned char)p[at])) at++;
  size_t name_end = quoted_name_end(p, n, at);
  if (name_end == 0) return false;
  size_t spaces = name_end;
  for (at = name_end; at < n && is_space((unsigned char)p[at]);) at++;
  if (at == spaces) return false;
  const char *definition = p + at;
  size_t length = n - at, type = 0;
  while (type < length && lower(definition[type]) >= 'a' && lower(definition[type]) <= 'z') type++;
  bool loadable = false;
  for (size_t i = 0; i < sizeof LOADABLE_TYPES / sizeof *LOADABLE_TYPES; i++) {
    if (strlen(LOADABLE_TYPES[i]) != type) continue;
    size_t j = 0;
    while (j < type && lower(definition[j]) == LOADABLE_TYPES[i][j]) j++;
    if (j == type) loadable = true;
  }
  // `varchar(10) CHARACTER SET binary`, `char(4) BINARY`-style collations: bytes, not text.
  return loadable && !contains_ignoring_case(definition, length, "character set binary", true) &&
         !contains_ignoring_case(definition, length, "collate binary", true);
}

static bool table_reads_alike(const char *p, size_t n) {
  size_t columns = 0;
  for (size_t at = 0; at < n;) {
    const char *newline = memchr(p + at, '\n', n - at);
    size_t end = newline ? (size_t)(newline - p) : n;
    size_t i = at;
    while (i < end && is_space((unsigned char)p[i])) i++;
    if (i > at && i < end && p[i] == '`') {
      columns++;
      if (!column_reads_alike(p + at, end - at)) return false;
    }
    at = end + 1;
  }
  return columns > 0;
}

/*
 * Whether ASCII bytes mean the same characters to every column of the table and to the dump's
 * `SET NAMES`: false when a character set that encodes ASCII otherwise is named anywhere in the
 * table (UCS-2, UTF-16, UTF-32: two or four bytes a character; swe7: letters on ASCII's brackets).
 * Naming one in a comment or a column's name only costs that table the converting load.
 */
static const char *const NON_ASCII_CHARSETS[] = {"ucs2", "utf16", "utf32", "swe7"};

static bool ascii_reads_alike(const char *create, size_t create_length, const char *charset, size_t charset_length) {
  for (size_t i = 0; i < sizeof NON_ASCII_CHARSETS / sizeof *NON_ASCII_CHARSETS; i++)
    if (contains_ignoring_case(create, create_length, NON_ASCII_CHARSETS[i], false) ||
        contains_ignoring_case(charset, charset_length, NON_ASCII_CHARSETS[i], false))
      return false;
  return true;
}

/* Whether any byte of p[0..n) is outside ASCII: 16 bytes at a time where SSE2 is. */
static bool has_non_ascii(const char *p, size_t n) {
  size_t at = 0;
#ifdef __SSE2__
  __m128i any = _mm_setzero_si128();
  for (; at + 16 <= n; at += 16) any = _mm_or_si128(any, _mm_loadu_si128((const __m128i *)(p + at)));
  if (_mm_movemask_epi8(any) != 0) return true;
#endif
  for (; at < n; at++)
    if ((unsigned char)p[at] >= 0x80) return true;
  return false;
}

/* ---- INSERT → rows for LOAD DATA ---- */

static unsigned char NUMBER_BYTES[256], STRING_STOPS[256], SAME_ESCAPES[256];

static void init_tables(void) {
  for (const char *c = "0123456789.-+eE"; *c; c++) NUMBER_BYTES[(unsigned char)*c] = 1;
  STRING_STOPS['\''] = STRING_STOPS['\\'] = STRING_STOPS['\t'] = 1;
  // An escape the server reads the same in a string literal and in LOAD DATA's input: \0 \b \n \r \t \Z \\.
  for (const char *c = "0bnrtZ\\"; *c; c++) SAME_ESCAPES[(unsigned char)*c] = 1;
}

/* The first quote, backslash or tab of a string from `at` (or `end`): 16 bytes at a time where SSE2 is. */
static size_t string_stop(const char *l, size_t at, size_t end) {
#ifdef __SSE2__
  const __m128i quote = _mm_set1_epi8('\''), backslash = _mm_set1_epi8('\\'), tab = _mm_set1_epi8('\t');
  for (; at + 16 <= end; at += 16) {
    __m128i bytes = _mm_loadu_si128((const __m128i *)(l + at));
    __m128i stops = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash)), _mm_cmpeq_epi8(bytes, tab));
    int mask = _mm_movemask_epi8(stops);
    if (mask != 0) return at + (size_t)__builtin_ctz((unsigned)mask);
  }
#endif
  while (at < end && !STRING_STOPS[(unsigned char)l[at]]) at++;
  return at;
}

struct rows {
  size_t table_start, table_end; /* the quoted name, backquotes included */
  size_t columns_start, columns_end;
  uint64_t count;
};

/*
 * The rows of one complete extended INSERT (`INSERT INTO `t` [(`a`, `b`)] VALUES (…),(…);` and
 * its newline; mariadb-dump 10.11 and later put each row on a line of its own, mysqldump all on
 * one) into `out`, tab-separated with LOAD DATA's escapes; false when it holds anything LOAD DATA
 * would read differently (a hex or bit literal, `_binary`, NO_BACKSLASH_ESCAPES's doubled quote).
 */
static bool insert_to_rows(const char *l, size_t end, struct bytes *out, struct rows *rows) {
  size_t head = end < HEAD_LIMIT ? end : HEAD_LIMIT;
  if (!starts(l, head, "INSERT INTO ")) return false;
  rows->table_start = 12;
  rows->table_end = quoted_name_end(l, head, 12);
  if (rows->table_end == 0) return false;
  size_t at = rows->table_end;
  rows->columns_start = rows->columns_end = 0;
  if (at + 1 < head && l[at] == ' ' && l[at + 1] == '(') {
    size_t j = at + 2;
    do {
      j = quoted_name_end(l, head, j);
      if (j == 0) return false;
      if (j < head && l[j] == ',') j += 1 + (j + 1 < head && l[j + 1] == ' ');
    } while (j < head && l[j] != ')');
    if (j >= head) return false;
    rows->columns_start = at + 1;
    rows->columns_end = j + 1;
    at = j + 1;
  }
  if (!starts(l + at, head - at, " VALUES")) return false;
  for (at += 7; at < head && is_space((unsigned char)l[at]);) at++;

  reserve(out, end * 2 + 16);
  char *o = out->data;
  size_t w = 0;
  rows->count = 0;
  for (;;) {
    if (at >= end || l[at] != '(') return false;
    at++;
    rows->count++;
    for (int field = 0;; field++) {
      if (field > 0) o[w++] = '\t';
      if (at < end && l[at] == '\'') {
        at++;
        for (;;) {
          size_t stop = string_stop(l, at, end);
          if (stop >= end) return false;
          memcpy(o + w, l + at, stop - at);
          w += stop - at;
          char byte = l[stop];
          if (byte == '\'') {
            at = stop + 1;
            break;
          }
          if (byte == '\t') {
            o[w++] = '\\';
            o[w++] = 't';
            at = stop + 1;
            continue;
          }
          if (stop + 1 >= end) return false;
          char escaped = l[stop + 1];
          if (escaped == '\'' || escaped == '"') o[w++] = escaped;
          else if (SAME_ESCAPES[(unsigned char)escaped]) {
            o[w++] = '\\';
            o[w++] = escaped;
          } else return false;
          at = stop + 2;
        }
        // A quote right after the closing one is NO_BACKSLASH_ESCAPES's doubled quote.
        if (at < end && l[at] == '\'') return false;
      } else {
        size_t start = at;
        bool numeric = true;
        for (; at < end; at++) {
          unsigned char byte = (unsigned char)l[at];
          if (byte == ',' || byte == ')') break;
          if (!NUMBER_BYTES[byte]) numeric = false;
        }
        if (numeric && at > start) {
          memcpy(o + w, l + start, at - start);
          w += at - start;
        } else if (at - start == 4 && memcmp(l + start, "NULL", 4) == 0) {
          o[w++] = '\\';
          o[w++] = 'N';
        } else return false;
      }
      if (at >= end) return false;
      if (l[at] == ')') break;
      if (l[at] != ',') return false;
      at++;
    }
    o[w++] = '\n';
    at++;
    if (at >= end) return false;
    if (l[at] == ';') break;
    if (l[at] != ',') return false;
    for (at++; at < end && (l[at] == '\n' || l[at] == '\r' || l[at] == ' ');) at++;
  }
  // Only the line's end may follow the `;`.
  for (at++; at < end; at++)
    if (l[at] != '\n' && l[at] != '\r' && l[at] != ' ') return false;
  out->len = w;
  return true;
}

/* ---- the segment writer ---- */

static uint64_t group_bytes, part_bytes, load_min_bytes;
static bool load_data;

static struct {
  bool open;
  enum kind kind;
  uint64_t raw;
  struct out_file sql;
  uint64_t sql_bytes;
  bool has_statements;
} current;

/* What a table segment knows of the table it is in; its INSERTs held until they are worth a load. */
static struct {
  bool in_create;
  struct bytes create;
  bool loadable;
  /* Its rows may be loaded as bytes when they are all ASCII (ascii_reads_alike). */
  bool ascii_loadable;
  struct bytes held;
  size_t *held_lengths, held_count, held_cap;
  bool run;
} table;

/* A run of one table's INSERTs being written as rows. */
static struct {
  struct bytes quoted_table, columns;
  struct out_file data;
  uint64_t rows, bytes;
  bool non_ascii;
} run;

/* The INSERT being read: its bytes while it may become rows, else written as it comes. */
static struct {
  bool open, loadable;
  struct bytes bytes;
  int last;
} statement;

static struct bytes scratch, preamble, load_statement;

static void emit_table(const char *name, size_t length) {
  printf("table ");
  emit_hex(name, length);
  emit_done();
}

static void write_sql(const char *p, size_t n) {
  out_write(&current.sql, p, n);
  current.sql_bytes += n;
  current.has_statements = true;
}

static void open_sql_part(void) {
  out_open(&current.sql, current.kind == SERIAL ? "serial.sql" : "table.sql");
  session_preamble(&preamble);
  out_write(&current.sql, preamble.data, preamble.len);
  current.sql_bytes = preamble.len;
  current.has_statements = false;
}

/* Hands the SQL part over, unless it holds nothing but its preamble (not worth a client session). */
static void end_sql_part(void) {
  out_close(&current.sql);
  if (current.has_statements) {
    printf("sql %s", current.sql.name);
    emit_done();
  } else {
    char path[PATH_MAX];
    path_of(path, current.sql.name);
    if (unlink(path) < 0) fail(path);
  }
}

static void open_segment(enum kind kind, const char *name, size_t length) {
  current.open = true;
  current.kind = kind;
  open_sql_part();
  current.raw = current.sql_bytes;
  if (kind == SERIAL) printf("segment serial");
  else {
    printf("segment table ");
    emit_hex(name, length);
  }
  emit_done();
}

/* Hands over the SQL before the load, then the load (its rows and its statement), and opens the SQL after. */
static void end_load_run(void) {
  if (!table.run || !current.open) return;
  table.run = false;
  out_close(&run.data);
  end_sql_part();
  const char *charset = "binary";
  size_t charset_length = 6;
  if (run.non_ascii || !table.ascii_loadable) character_set(&charset, &charset_length);
  char name[64], path[PATH_MAX], data_path[PATH_MAX];
  next_name(name, "load.sql");
  path_of(path, name);
  path_of(data_path, run.data.name);
  struct bytes *s = &load_statement;
  session_preamble(s);
  /* The header turns unique checks off, and with them off InnoDB loads rows into an empty table
     by its bulk path (sorted in buffers, the index built at the commit): for a part's sorted rows
     that is twice the server's CPU of inserting them row by row (bench/README.md, nineteenth
     session), which two loads on two cores pay in time. With unique checks on, no load takes it;
     the dump's own statements keep the header's settings. */
  const char *checks = "SET SESSION unique_checks=1;\n";
  append(s, checks, strlen(checks));
  append(s, "LOAD DATA LOCAL INFILE '", 24);
  for (const char *c = data_path; *c; c++) {
    if (*c == '\\' || *c == '\'') append(s, "\\", 1);
    append(s, c, 1);
  }
  append(s, "' INTO TABLE ", 13);
  append(s, run.quoted_table.data, run.quoted_table.len);
  append(s, " CHARACTER SET ", 15);
  append(s, charset, charset_length);
  const char *format = " FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'";
  append(s, format, strlen(format));
  if (run.columns.len > 0) {
    append(s, " ", 1);
    append(s, run.columns.data, run.columns.len);
  }
  append(s, ";\nSELECT ROW_COUNT();\n", 22);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail(path);
  write_segment(fd, s->data, s->len);
  if (close(fd) < 0) fail(path);
  printf("load %s %s %llu ", name, run.data.name, (unsigned long long)run.rows);
  emit_hex(run.quoted_table.data + 1, run.quoted_table.len - 2);
  emit_done();
  open_sql_part();
}

/* Adds a statement's rows to the table's load; false when LOAD DATA would read them differently. */
static bool load(const char *p, size_t n) {
  struct rows rows;
  if (!insert_to_rows(p, n, &scratch, &rows)) return false;
  const char *quoted = p + rows.table_start, *columns = p + rows.columns_start;
  size_t quoted_length = rows.table_end - rows.table_start, columns_length = rows.columns_end - rows.columns_start;
  if (table.run && (run.quoted_table.len != quoted_length || memcmp(run.quoted_table.data, quoted, quoted_length) != 0 ||
                    run.columns.len != columns_length || memcmp(run.columns.data, columns, columns_length) != 0))
    end_load_run();
  if (!table.run) {
    out_open(&run.data, "rows.tsv");
    run.quoted_table.len = run.columns.len = 0;
    append(&run.quoted_table, quoted, quoted_length);
    append(&run.columns, columns, columns_length);
    run.rows = run.bytes = 0;
    run.non_ascii = false;
    table.run = true;
  }
  if (!run.non_ascii) run.non_ascii = has_non_ascii(scratch.data, scratch.len);
  out_write(&run.data, scratch.data, scratch.len);
  run.rows += rows.count;
  run.bytes += scratch.len;
  if (run.bytes >= part_bytes) end_load_run();
  return true;
}

static void clear_held(void) {
  table.held.len = 0;
  table.held_count = 0;
}

static void write_held_as_sql(void) {
  write_sql(table.held.data, table.held.len);
  clear_held();
}

/* The table's remaining statements (held ones, then `p`, then the one being read) stay SQL, after what was loaded. */
static void give_up_loading(const char *p, size_t n) {
  end_load_run();
  table.loadable = false;
  if (table.held.len > 0) write_held_as_sql();
  if (n > 0) write_sql(p, n);
  if (statement.open && statement.loadable) {
    write_sql(statement.bytes.data, statement.bytes.len);
    statement.bytes.len = 0;
    statement.loadable = false;
  }
}

static void take_statement(const char *p, size_t n) {
  if (table.run) {
    if (!load(p, n)) give_up_loading(p, n);
    return;
  }
  append(&table.held, p, n);
  if (table.held_count == table.held_cap) {
    table.held_cap = table.held_cap ? table.held_cap * 2 : 64;
    table.held_lengths = realloc(table.held_lengths, table.held_cap * sizeof *table.held_lengths);
    errno = ENOMEM;
    if (table.held_lengths == NULL) fail("memory");
  }
  table.held_lengths[table.held_count++] = n;
  if (table.held.len < load_min_bytes) return;
  // The held statements are taken out of the table before they are loaded, one by one.
  struct bytes held = table.held;
  size_t *lengths = table.held_lengths, count = table.held_count, cap = table.held_cap;
  table.held = (struct bytes){0};
  table.held_lengths = NULL;
  table.held_count = table.held_cap = 0;
  size_t at = 0, index = 0;
  for (; index < count; at += lengths[index++])
    if (!load(held.data + at, lengths[index])) break;
  if (index < count) give_up_loading(held.data + at, held.len - at);
  // Their buffers are kept for the next table.
  free(table.held.data);
  free(table.held_lengths);
  table.held = held;
  table.held.len = 0;
  table.held_lengths = lengths;
  table.held_cap = cap;
  table.held_count = 0;
}

/* The table's data ended: a load run becomes a part, held statements are written as SQL. */
static void end_table_data(void) {
  if (table.run) end_load_run();
  if (table.held.len > 0) write_held_as_sql();
}

static void reset_table(void) {
  table.in_create = false;
  table.loadable = table.ascii_loadable = false;
  clear_held();
}

static void close_segment(void) {
  if (!current.open) return;
  end_table_data();
  reset_table();
  end_sql_part();
  current.open = false;
  printf("end %llu", (unsigned long long)current.raw);
  emit_done();
}

/* After a full part's last statement a table segment's next statements go into a new part. */
static void rotate_sql_part_when_full(void) {
  if (current.kind != TABLE || current.sql_bytes < part_bytes) return;
  end_sql_part();
  open_sql_part();
}

static void add_to_statement(const char *p, size_t n) {
  statement.last = (unsigned char)p[n - 1];
  if (statement.loadable) append(&statement.bytes, p, n);
  else write_sql(p, n);
}

static void end_statement(void) {
  statement.open = false;
  if (statement.loadable) take_statement(statement.bytes.data, statement.bytes.len);
  statement.bytes.len = 0;
  rotate_sql_part_when_full();
}

/* A line of a table segment that is no INSERT: it ends the table's data; a CREATE TABLE is read. */
static void table_line(const char *p, size_t n) {
  if (!load_data) return;
  end_table_data();
  if (starts(p, n, "CREATE TABLE ")) {
    table.in_create = true;
    table.create.len = 0;
  }
  if (!table.in_create) return;
  append(&table.create, p, n);
  if (ends_statement(p, n)) {
    const char *charset;
    size_t length;
    table.loadable = character_set(&charset, &length) && table_reads_alike(table.create.data, table.create.len);
    table.ascii_loadable = table.loadable && ascii_reads_alike(table.create.data, table.create.len, charset, length);
    table.in_create = false;
  }
}

static void on_line(const char *p, size_t n) {
  // The first segment opens before the segmenter reads anything: its preamble is empty.
  if (!current.open) open_segment(SERIAL, NULL, 0);
  const char *name = NULL;
  size_t name_length = 0;
  enum kind start = segmenter_read(p, n, &name, &name_length);
  // Serial segments in a row are one session; small tables in a row share one.
  bool continues = start != NONE && start == current.kind && (start == SERIAL || current.raw < group_bytes);
  if (start != NONE && !continues) {
    close_segment();
    open_segment(start, name, name_length);
  } else if (start == TABLE) {
    end_table_data();
    reset_table();
    emit_table(name, name_length);
  }
  if (!segmenter_keeps(p, n)) return;
  current.raw += n;
  if (starts(p, n, "INSERT INTO ") && !in_stored_program) {
    statement.open = true;
    statement.loadable = load_data && current.kind == TABLE && table.loadable;
    statement.bytes.len = 0;
    add_to_statement(p, n);
    if (ends_statement(p, n)) end_statement();
    return;
  }
  if (current.kind == TABLE) table_line(p, n);
  write_sql(p, n);
}

/*
 * The first `;` followed by a newline in `p`, or NULL. memchr finds the rare `;` with vector
 * instructions; glibc's memmem compares a two-byte needle at every byte, and was half of this
 * program's CPU on a restore. A `;` at the buffer's end is read_statement's case, not this one's.
 */
static const char *find_statement_end(const char *p, size_t n) {
  const char *end = p + n;
  for (const char *at = p; at < end;) {
    const char *semicolon = memchr(at, ';', (size_t)(end - at));
    if (semicolon == NULL || semicolon + 1 == end) return NULL;
    if (semicolon[1] == '\n') return semicolon;
    at = semicolon + 1;
  }
  return NULL;
}

/* Reads an INSERT's bytes up to its end (`;` and a newline); returns how many it took. */
static size_t read_statement(const char *p, size_t n) {
  size_t taken;
  bool found;
  if (statement.last == ';' && p[0] == '\n') {
    taken = 1;
    found = true;
  } else {
    const char *end = find_statement_end(p, n);
    found = end != NULL;
    taken = found ? (size_t)(end - p) + 2 : n;
  }
  add_to_statement(p, taken);
  current.raw += taken;
  if (found) end_statement();
  else if (statement.loadable && statement.bytes.len > STATEMENT_LIMIT_BYTES) give_up_loading(NULL, 0);
  return taken;
}

static uint64_t parse_size(const char *text) {
  char *end;
  errno = 0;
  unsigned long long value = strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value == 0) {
    fprintf(stderr, "dbkeep-stage: not a positive byte count: %s\n", text);
    exit(2);
  }
  return value;
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: dbkeep-stage DIR GROUP_BYTES PART_BYTES [LOAD_DATA_MIN_BYTES] < dump\n");
    return 2;
  }
  dir = argv[1];
  group_bytes = parse_size(argv[2]);
  part_bytes = parse_size(argv[3]);
  load_data = argc == 5;
  if (load_data) load_min_bytes = parse_size(argv[4]);
  init_tables();
  if (make_blocking(STDIN_FILENO) < 0) fail("standard input");
  struct bytes in = {0};
  for (;;) {
    size_t at = 0;
    while (at < in.len) {
      if (statement.open) {
        at += read_statement(in.data + at, in.len - at);
        continue;
      }
      const char *newline = memchr(in.data + at, '\n', in.len - at);
      if (newline == NULL) break;
      size_t end = (size_t)(newline - in.data) + 1;
      on_line(in.data + at, end - at);
      at = end;
    }
    // The unfinished line moves to the front, and the buffer grows only for a line longer than it.
    memmove(in.data, in.data + at, in.len - at);
    in.len -= at;
    reserve(&in, READ_BYTES);
    ssize_t got = read(STDIN_FILENO, in.data + in.len, READ_BYTES);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail("reading standard input");
    if (got == 0) break;
    in.len += (size_t)got;
  }
  if (in.len > 0) on_line(in.data, in.len);
  if (statement.open) end_statement();
  close_segment();
  return 0;
}
