// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* See program.h. */
#include "program.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Help text: option names in the first HELP_COLUMN columns. */
#define HELP_COLUMN 24
#define MAX_OPTIONS 32
#define ONE_DAY_S 86400.0

static const char *program_name = "streamprof";

int fail(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

void on_stop_signals(void (*handler)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

uint8_t *read_whole_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		size_t got;

		if (n == cap) {
			/* Grow by doubling; aligned_alloc has no realloc. */
			size_t next = cap ? cap * 2 : 1 << 20;
			uint8_t *bigger = next > cap ? aligned_alloc(64, next)
						     : NULL;

			if (!bigger) {
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			if (n)
				memcpy(bigger, buf, n);
			free(buf);
			buf = bigger;
			cap = next;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				free(buf);
				fclose(f);
				errno = EIO;
				return NULL;
			}
			break;
		}
	}
	fclose(f);
	*len = n;
	return buf;
}

uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

double monotonic_seconds(void)
{
	return (double)monotonic_ns() / 1e9;
}

static bool takes_value(const struct option_spec *s)
{
	return s->kind != OPTION_FLAG && s->kind != OPTION_NO_FLAG;
}

void print_help(const struct program_spec *p, FILE *out)
{
	fprintf(out, "Usage: %s %s\n\n%s\n\nOptions:\n", p->name,
		p->synopsis ? p->synopsis : "[options]", p->description);
	for (size_t i = 0; i < p->option_count; i++) {
		const struct option_spec *s = &p->options[i];
		const char *line = s->help;
		int width;

		width = fprintf(out, "  --%s%s%s", s->name,
				takes_value(s) ? " " : "",
				takes_value(s) ? s->value_name : "");
		if (width >= HELP_COLUMN) {
			fputc('\n', out);
			width = 0;
		}
		/* Each line of the help, in the second column. */
		while (*line) {
			size_t n = strcspn(line, "\n");

			fprintf(out, "%*s%.*s\n", HELP_COLUMN - width, "", (int)n,
				line);
			width = 0;
			line += n + (line[n] == '\n');
		}
	}
	fprintf(out, "  --help%*sthis text\n", HELP_COLUMN - 8, "");
	if (p->epilogue)
		fprintf(out, "\n%s", p->epilogue);
}

/* "4K", "8M", "1G" when exact, else the number of bytes. */
static const char *size_text(unsigned long long v, char *buf, size_t len)
{
	static const char units[] = "KMG";

	for (int i = 2; i >= 0; i--) {
		unsigned long long unit = 1ULL << (10 * (i + 1));

		if (v >= unit && v % unit == 0) {
			snprintf(buf, len, "%llu%c", v / unit, units[i]);
			return buf;
		}
	}
	snprintf(buf, len, "%llu", v);
	return buf;
}

/*
 * A decimal integer, with a K/M/G suffix when `suffix` (binary units);
 * no sign, nothing after it. 0 or -EINVAL.
 */
static int parse_unsigned(const char *text, bool suffix,
			  unsigned long long *out)
{
	unsigned long long v, unit = 1;
	char *end;

	errno = 0;
	if (!isdigit((unsigned char)*text))
		return -EINVAL;
	v = strtoull(text, &end, 10);
	if (errno || end == text)
		return -EINVAL;
	if (suffix && *end) {
		const char *u = strchr("KMG", *end & ~0x20);

		if (!u || !*u)
			return -EINVAL;
		unit = 1ULL << (10 * (u - "KMG" + 1));
		end++;
	}
	if (*end || v > ULLONG_MAX / unit)
		return -EINVAL;
	*out = v * unit;
	return 0;
}

static unsigned long long field_max(size_t size)
{
	return size >= sizeof(unsigned long long) ? ULLONG_MAX
						   : (1ULL << (8 * size)) - 1;
}

static void store_unsigned(void *field, size_t size, unsigned long long v)
{
	switch (size) {
	case 1: *(uint8_t *)field = (uint8_t)v; break;
	case 2: *(uint16_t *)field = (uint16_t)v; break;
	case 4: *(uint32_t *)field = (uint32_t)v; break;
	default: *(uint64_t *)field = (uint64_t)v; break;
	}
}

static int set_choice(const struct option_spec *s, const char *value,
		      int *field)
{
	for (int i = 0; s->choices[i]; i++) {
		if (strcmp(value, s->choices[i]) == 0) {
			*field = i;
			return 0;
		}
	}
	fprintf(stderr, "%s: --%s must be one of", program_name, s->name);
	for (int i = 0; s->choices[i]; i++)
		fprintf(stderr, "%s %s", i ? "," : "", s->choices[i]);
	fprintf(stderr, "; got '%s'\n", value);
	return EXIT_USAGE;
}

static int set_seconds(const struct option_spec *s, const char *value,
		       double *field)
{
	double max = s->max_seconds > 0 ? s->max_seconds : ONE_DAY_S;
	double seconds;
	char *end;

	errno = 0;
	seconds = strtod(value, &end);
	if (errno || end == value || *end || !(seconds >= 0) ||
	    (seconds == 0 && !s->allow_zero) || seconds > max)
		return fail(EXIT_USAGE, "--%s must be a number of seconds %s %g, "
					"got '%s'",
			    s->name,
			    s->allow_zero ? "from 0 to" : "above 0, at most", max,
			    value);
	*field = seconds;
	return 0;
}

/* OPTION_UINT and OPTION_SIZE. */
static int set_unsigned(const struct option_spec *s, const char *value,
			void *field)
{
	unsigned long long v, max = s->max ? s->max : field_max(s->size);
	bool size = s->kind == OPTION_SIZE;
	char lo[32], hi[32];

	if (parse_unsigned(value, size, &v) || v < s->min || v > max ||
	    (s->power_of_two && (v & (v - 1)))) {
		if (!size)
			return fail(EXIT_USAGE, "--%s must be an integer from "
						"%llu to %llu, got '%s'",
				    s->name, s->min, max, value);
		return fail(EXIT_USAGE, "--%s must be %s from %s to %s bytes "
					"(K/M/G suffixes allowed), got '%s'",
			    s->name,
			    s->power_of_two ? "a power of two" : "a size",
			    size_text(s->min, lo, sizeof(lo)),
			    size_text(max, hi, sizeof(hi)), value);
	}
	store_unsigned(field, s->size, v);
	return 0;
}

/* Sets the option's field from `value`; EXIT_USAGE after saying why. */
static int set_option(const struct option_spec *s, const char *value,
		      void *options)
{
	void *field = (char *)options + s->offset;

	switch (s->kind) {
	case OPTION_FLAG:
	case OPTION_NO_FLAG:
		*(bool *)field = s->kind == OPTION_FLAG;
		return 0;
	case OPTION_STRING:
		if (!*value)
			return fail(EXIT_USAGE, "--%s needs a value, got an "
						"empty string", s->name);
		*(const char **)field = value;
		return 0;
	case OPTION_CHOICE:
		return set_choice(s, value, field);
	case OPTION_SECONDS:
		return set_seconds(s, value, field);
	case OPTION_UINT:
	case OPTION_SIZE:
		return set_unsigned(s, value, field);
	}
	return fail(EXIT_BUG, "option --%s has no kind", s->name);
}

static int usage_hint(const struct program_spec *p)
{
	fprintf(stderr, "Run '%s --help' for usage.\n", p->name);
	return EXIT_USAGE;
}

int parse_command_line(const struct program_spec *p, int argc, char **argv,
		       void *options, int *first_operand)
{
	struct option longopts[MAX_OPTIONS + 2];
	int c, operands;

	program_name = p->name;
	if (p->option_count > MAX_OPTIONS)
		return fail(EXIT_BUG, "more than %d options", MAX_OPTIONS);
	/* getopt_long returns the table index of the option it found. */
	for (size_t i = 0; i < p->option_count; i++)
		longopts[i] = (struct option){
			.name = p->options[i].name,
			.has_arg = takes_value(&p->options[i])
					   ? required_argument
					   : no_argument,
			.val = (int)i,
		};
	longopts[p->option_count] =
		(struct option){ "help", no_argument, NULL, 'h' };
	longopts[p->option_count + 1] = (struct option){ 0 };

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int rc;

		if (c == 'h') {
			print_help(p, stdout);
			return EXIT_OK;
		}
		if (c < 0 || (size_t)c >= p->option_count)
			return usage_hint(p); /* getopt said what */
		rc = set_option(&p->options[c], optarg, options);
		if (rc)
			return usage_hint(p);
	}
	operands = argc - optind;
	if (operands > p->max_operands) {
		fail(EXIT_USAGE, "unexpected argument '%s'",
		     argv[optind + p->max_operands]);
		return usage_hint(p);
	}
	if (operands < p->min_operands) {
		fail(EXIT_USAGE, "missing %s", p->operand_name);
		return usage_hint(p);
	}
	if (first_operand)
		*first_operand = optind;
	return COMMAND_LINE_PARSED;
}

int parse_command_line_with_file(const struct program_spec *p, int argc,
				 char **argv, void *options,
				 struct file_operand *file)
{
	int file_arg;
	int rc = parse_command_line(p, argc, argv, options, &file_arg);

	if (rc != COMMAND_LINE_PARSED)
		return rc;
	file->path = argv[file_arg];
	file->len = 0;
	file->data = read_whole_file(file->path, &file->len);
	if (!file->data)
		return fail(errno == ENOMEM ? EXIT_ENVIRONMENT : EXIT_USAGE,
			    "%s: %s", file->path, strerror(errno));
	return COMMAND_LINE_PARSED;
}
