/*
 * The table data of a logical dump's fingerprint, read in C (dump-scan.c): what
 * domain/dump-fingerprint.ts (format 4) does with each INSERT statement, without the dump's bytes
 * passing through Node. See dump-scan.c for what it writes.
 */
#ifndef DBKEEP_DUMP_SCAN_H
#define DBKEEP_DUMP_SCAN_H

#include <stddef.h>

struct dump_scan;

/* A scanner writing its records to `out`; NULL when out of memory. */
struct dump_scan *dump_scan_new(int out);

/* Reads the next bytes of the dump, in chunks of any size. 0, or -1 when writing a record failed. */
int dump_scan_push(struct dump_scan *scan, const unsigned char *bytes, size_t length);

/* The dump ended: writes what is left and the end record. 0, or -1 when writing failed. */
int dump_scan_finish(struct dump_scan *scan);

#endif
