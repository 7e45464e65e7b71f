/* src/cli.c — what every command's argument parsing shares: getopt_long by
 * whole option names, operands in order, whole numbers, --set lists and the
 * Python that runs tools/. Kept out of main.c so that commands do not call
 * back into the file that calls them. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The command's operands, in the order given (getopt_long's "-" mode
 * hands them over one by one, so POSIXLY_CORRECT changes nothing). */
#define CLI_MAX_OPERANDS 64
static const char *g_operands[CLI_MAX_OPERANDS];
static int g_n_operands, g_too_many;

void cli_start(void) {
    optind = 1;
    g_n_operands = g_too_many = 0;
}

static void add_operand(const char *a) {
    if (g_n_operands < CLI_MAX_OPERANDS) g_operands[g_n_operands++] = a;
    else g_too_many = 1;
}

int cli_next(const char *cmd, int argc, char **argv, const struct option *opts) {
    opterr = 0; /* recal's messages, not getopt's */
    for (;;) {
        int li = -1;
        const int c = getopt_long(argc, argv, "-:h", opts, &li);
        if (c == 1) { /* an operand */
            add_operand(optarg);
            continue;
        }
        if (c == -1) { /* what follows "--" is operands too */
            for (int i = optind; i < argc; i++) add_operand(argv[i]);
            optind = argc;
            if (g_too_many) {
                fprintf(stderr, "recal %s: more than %d arguments (see recal %s --help)\n", cmd, CLI_MAX_OPERANDS, cmd);
                return '?';
            }
            return -1;
        }
        if (c != '?' && c != ':' && li >= 0) {
            /* getopt_long takes any unambiguous prefix ("--res" for
             * --resume): recal wants the whole name, so that a script
             * means the same when an option is added */
            const char *typed =
                optarg && optind >= 2 && argv[optind - 1] == optarg ? argv[optind - 2] : argv[optind - 1];
            size_t n = strcspn(typed + 2, "=");
            if (strncmp(typed, "--", 2) || strlen(opts[li].name) != n || strncmp(typed + 2, opts[li].name, n)) {
                fprintf(stderr, "recal %s: unexpected argument '%.*s' (did you mean --%s? see recal %s --help)\n", cmd,
                        (int)(n + 2), typed, opts[li].name, cmd);
                return '?';
            }
        }
        if (c != '?' && c != ':') return c;
        const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
        if (c == ':') {
            const char *name = NULL;
            for (const struct option *o = opts; o->name && !name; o++)
                if (o->val == optopt) name = o->name;
            if (name) fprintf(stderr, "recal %s: --%s needs a value (see recal %s --help)\n", cmd, name, cmd);
            else fprintf(stderr, "recal %s: %s needs a value (see recal %s --help)\n", cmd, arg, cmd);
        } else {
            fprintf(stderr, "recal %s: unexpected argument '%s' (see recal %s --help)\n", cmd, arg, cmd);
        }
        return '?';
    }
}

int cli_operands(const char ***out) {
    *out = g_operands;
    return g_n_operands;
}

int cli_operand(const char *cmd, const char *arg, const char **slot) {
    if (!*slot) {
        *slot = arg;
        return 0;
    }
    fprintf(stderr, "recal %s: unexpected argument '%s' (see recal %s --help)\n", cmd, arg, cmd);
    return -1;
}

int cli_add_set(const char *v, const char **sets, int *n_sets, int max, const char *cmd) {
    if (*n_sets >= max) {
        fprintf(stderr, "recal %s: --set needs key=value (at most %d)\n", cmd, max);
        return -1;
    }
    sets[(*n_sets)++] = v;
    return 0;
}

int cli_long(const char *cmd, const char *opt, const char *v, long min, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < min) {
        fprintf(stderr, "recal %s: %s wants a whole number >= %ld, got '%s'\n", cmd, opt, min, v);
        return -1;
    }
    *out = x;
    return 0;
}

int cli_is_help(const char *a) {
    return !strcmp(a, "--help") || !strcmp(a, "-h");
}

const char *cli_python(void) {
    const char *py = getenv("RECAL_PYTHON");
    return py && *py ? py : "/usr/bin/python3";
}
