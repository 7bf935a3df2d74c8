/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every harness program shares: the exit codes (the same as the Deno
 * side's, lib/common/errors.ts), a command line parsed from a table of
 * options with their defaults and help text (as libbpf-tools declare theirs
 * with argp), one-line error messages, the stop signals, reading a FILE
 * operand and the monotonic clock.
 *
 * A program declares its options once:
 *
 *	struct opts { unsigned long rate; double seconds; };
 *	static const struct option_spec SPECS[] = {
 *		OPTION(struct opts, "rate", OPTION_UINT, rate, "N",
 *		       "calls per second (default 100000)", .max = 1000000000),
 *		OPTION(struct opts, "duration", OPTION_SECONDS, seconds,
 *		       "SECONDS", "how long (default 5)"),
 *	};
 *	static const struct program_spec PROGRAM = { .name = "gen",
 *		.options = SPECS, .option_count = OPTION_COUNT(SPECS), ... };
 *
 *	struct opts o = { .rate = 100000, .seconds = 5 };  (the defaults)
 *	int rc = parse_command_line(&PROGRAM, argc, argv, &o, NULL);
 *	if (rc != COMMAND_LINE_PARSED)
 *		return rc;  (0 after --help, EXIT_USAGE after a mistake)
 */
#ifndef STREAMPROF_PROGRAM_H
#define STREAMPROF_PROGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes, as lib/common/errors.ts ExitCode. */
#define EXIT_OK 0
#define EXIT_CHECKS_FAILED 1 /* the run completed but failed its checks */
#define EXIT_USAGE 2         /* bad command line: nothing was started */
#define EXIT_ENVIRONMENT 3   /* privileges, kernel, missing object... */
#define EXIT_BUG 70          /* a bug (e.g. the WASM parser trapped) */

enum option_kind {
	OPTION_FLAG,    /* no value: sets a bool */
	OPTION_NO_FLAG, /* no value: clears a bool (--no-skip-idle) */
	OPTION_UINT,    /* a decimal integer in [min, max] */
	OPTION_SIZE,    /* bytes, K/M/G suffixes, in [min, max] */
	OPTION_SECONDS, /* seconds, fractions allowed, above 0, <= max */
	OPTION_CHOICE,  /* one of choices[]: stores its index in an int */
	OPTION_STRING,  /* a non-empty text: stores the pointer */
};

/* The field of the options struct an option sets. */
#define OPTION_FIELD(type, field) \
	.offset = offsetof(type, field), .size = sizeof(((type *)0)->field)

/*
 * One entry of an option table: name, kind, the field of `type` it sets,
 * the value's name in the help (NULL for flags), the help text, then any of
 * .min, .max, .power_of_two, .allow_zero, .max_seconds, .choices.
 */
#define OPTION(type, opt_name, opt_kind, field, value, text, ...)       \
	{ .name = (opt_name), .kind = (opt_kind), OPTION_FIELD(type, field), \
	  .value_name = (value), .help = (text), __VA_ARGS__ }

/*
 * OPTION() for `struct options`, the name every harness program gives its
 * options struct: its table's entries read OPT("rate", OPTION_UINT, ...).
 */
#define OPT(...) OPTION(struct options, __VA_ARGS__)

struct option_spec {
	const char *name; /* without the leading "--" */
	enum option_kind kind;
	size_t offset, size;    /* OPTION_FIELD */
	const char *value_name; /* for the help text ("HZ"); NULL for flags */
	const char *help;       /* lines separated by '\n' */
	/* OPTION_UINT, OPTION_SIZE: bounds (max 0: the field's own max). */
	unsigned long long min, max;
	bool power_of_two;         /* OPTION_SIZE */
	bool allow_zero;           /* OPTION_SECONDS: 0 is accepted too */
	double max_seconds;        /* OPTION_SECONDS (0: one day) */
	const char *const *choices; /* OPTION_CHOICE, NULL-terminated */
};

struct program_spec {
	const char *name;        /* also the prefix of every message */
	const char *synopsis;    /* after the name: "[options] FILE" */
	const char *description; /* the paragraph(s) before the options */
	const char *epilogue;    /* after the options: output, exit status */
	const struct option_spec *options;
	size_t option_count;
	int min_operands, max_operands; /* arguments that are not options */
	const char *operand_name;       /* "FILE", for messages */
};

#define OPTION_COUNT(specs) (sizeof(specs) / sizeof((specs)[0]))

/*
 * The program_spec fields of a program whose one operand is a FILE, as
 * parse_command_line_with_file() wants: { .name = ..., FILE_OPERAND }.
 */
#define FILE_OPERAND \
	.min_operands = 1, .max_operands = 1, .operand_name = "FILE"

/* parse_command_line: go on with the program. */
#define COMMAND_LINE_PARSED (-1)

/*
 * Parses argv by the table into *options (which holds the defaults).
 * Returns COMMAND_LINE_PARSED, and the index of the first operand in
 * *first_operand when it is not NULL; else the status to exit with: EXIT_OK
 * after --help (printed on stdout), EXIT_USAGE after a mistake (said on
 * stderr, with the allowed values). Also names the program for fail().
 */
int parse_command_line(const struct program_spec *p, int argc, char **argv,
		       void *options, int *first_operand);

/* Prints the help text generated from the table. */
void print_help(const struct program_spec *p, FILE *out);

/*
 * Prints "NAME: message" on stderr (NAME from parse_command_line) and
 * returns `code`, so a failing step ends with `return fail(EXIT_..., ...)`.
 */
int fail(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Calls `handler` on SIGINT and SIGTERM, without SA_RESTART, so a blocking
 * wait (epoll, sleep) returns early with EINTR.
 */
void on_stop_signals(void (*handler)(int));

/*
 * Reads all of `path` (a regular file, a pipe, /dev/null) into a 64-byte
 * aligned buffer the caller frees (the parser's input area is aligned so,
 * and the decode benchmark compares like with like). NULL with errno set
 * (open's, ENOMEM or EIO).
 */
uint8_t *read_whole_file(const char *path, size_t *len);

/* The FILE operand of a program, read whole. */
struct file_operand {
	const char *path;
	uint8_t *data; /* read_whole_file(): the caller frees it */
	size_t len;
};

/*
 * parse_command_line() for a program whose one operand is a FILE it reads
 * whole (FILE_OPERAND in its spec): on COMMAND_LINE_PARSED, *file names the
 * FILE and holds its bytes. A FILE that cannot be read is a usage error,
 * memory running out EXIT_ENVIRONMENT.
 */
int parse_command_line_with_file(const struct program_spec *p, int argc,
				 char **argv, void *options,
				 struct file_operand *file);

/* CLOCK_MONOTONIC in nanoseconds and in seconds. */
uint64_t monotonic_ns(void);
double monotonic_seconds(void);

#endif /* STREAMPROF_PROGRAM_H */
