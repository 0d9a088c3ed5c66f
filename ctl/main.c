/*
 * jcsctl - the command line for a running jcs (see ctl.h for the shape).
 *
 * Global options may come before or after the command words; a command's
 * own options anywhere after them. "--" ends the options.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "ctl.h"
#include "version.h"

static const ctl_cmd *const groups[] = {ctl_cmds_bucket, ctl_cmds_object, ctl_cmds_transfer,
                                        ctl_cmds_system};

int ctl_exit_code(int rc)
{
    switch (rc) {
    case 0:
        return CTL_EXIT_OK;
    case JCS_EINVAL:
        return CTL_EXIT_USAGE;
    case JCS_EUNAVAIL:
    case JCS_ETLS:
    case JCS_ETIMEOUT:
        return CTL_EXIT_CONN;
    default:
        return CTL_EXIT_FAIL;
    }
}

int ctl_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = jcs_err_setv(JCS_EINVAL, fmt, ap);
    va_end(ap);
    return rc;
}

static const char global_help[] =
    "Global options (anywhere on the line):\n"
    "  --endpoint URL   the jcs REST API [JCS_ENDPOINT, else " CTL_DEFAULT_ENDPOINT "]\n"
    "  --ca FILE        CA certificate of the API [JCS_CA, else ca_cert.pem beside jcsctl]\n"
    "  --cert FILE      client certificate [JCS_CERT, else client_cert.pem beside jcsctl]\n"
    "  --key FILE       client key [JCS_KEY, else client_key.pem beside jcsctl]\n"
    "  --json           print one JSON document on stdout instead of tables\n"
    "  -q, --quiet      no progress bar, no confirmations, no warnings\n"
    "  -h, --help       help for the command\n";

/* Global options: returns 1 if argv[*i] was one (consuming its value), 0 if not, <0 on error. */
static int global_opt(ctl *c, int argc, char **argv, int *i, int *help)
{
    const char *a = argv[*i];
    static const struct {
        const char *name;
        size_t off;
    } valued[] = {{"endpoint", offsetof(ctl, endpoint_opt)},
                  {"ca", offsetof(ctl, ca_opt)},
                  {"cert", offsetof(ctl, cert_opt)},
                  {"key", offsetof(ctl, key_opt)}};
    if (strcmp(a, "--json") == 0)
        return c->json = 1;
    if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0)
        return c->quiet = 1;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
        return *help = 1;
    if (strncmp(a, "--", 2) != 0)
        return 0;
    for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) {
        size_t len = strlen(valued[k].name);
        if (strncmp(a + 2, valued[k].name, len) != 0)
            continue;
        const char *v;
        if (a[2 + len] == '=') {
            v = a + 3 + len;
        } else if (a[2 + len] == '\0') {
            if (*i + 1 >= argc)
                return ctl_usage("option --%s needs a value", valued[k].name);
            v = argv[++*i];
        } else {
            continue;
        }
        *(const char **)((char *)c + valued[k].off) = v;
        return 1;
    }
    return 0;
}

int ctl_parse(ctl *c, int argc, char **argv, const ctl_opt *opts, const char **pos, size_t maxpos,
              size_t *npos, int *help)
{
    int rc, only_pos = 0;
    *npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            if (*npos >= maxpos)
                return ctl_usage("unexpected argument \"%s\"", a);
            pos[(*npos)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if ((rc = global_opt(c, argc, argv, &i, help)) < 0)
            return rc;
        if (rc)
            continue;
        const ctl_opt *o = NULL;
        const char *val = NULL;
        int is_long = a[1] == '-';
        for (size_t k = 0; opts && opts[k].name; k++) {
            if (is_long) {
                size_t len = strlen(opts[k].name);
                if (strncmp(a + 2, opts[k].name, len) == 0 &&
                    (a[2 + len] == '\0' || a[2 + len] == '=')) {
                    o = &opts[k];
                    val = a[2 + len] == '=' ? a + 3 + len : NULL;
                    break;
                }
            } else if (opts[k].shortc && a[1] == opts[k].shortc) {
                o = &opts[k];
                val = a[2] ? a + 2 : NULL;
                if (val && o->flag) {
                    /* Short flags may be grouped: -rf. Only the first is handled here. */
                    return ctl_usage("unknown option \"%s\" (write short options apart)", a);
                }
                break;
            }
        }
        if (!o)
            return ctl_usage("unknown option \"%s\"", a);
        if (o->flag) {
            if (val)
                return ctl_usage("option --%s takes no value", o->name);
            *o->flag = 1;
            continue;
        }
        if (!val) {
            if (i + 1 >= argc)
                return ctl_usage("option --%s needs a value", o->name);
            val = argv[++i];
        }
        *o->sval = val;
    }
    return 0;
}

void ctl_cmd_help(const ctl_cmd *cmd)
{
    printf("usage: jcsctl %s%s%s\n\n%s\n\n%s\n", cmd->name, cmd->args[0] ? " " : "", cmd->args,
           cmd->summary, cmd->help);
    printf("\n%s", global_help);
}

int ctl_args(ctl *c, int argc, char **argv, const ctl_opt *opts, const char **pos, size_t minpos,
             size_t maxpos, size_t *npos)
{
    const ctl_cmd *cmd = c->cmd;
    int help = 0;
    int rc = ctl_parse(c, argc, argv, opts, pos, maxpos, npos, &help);
    if (help) {
        ctl_cmd_help(cmd);
        return 1;
    }
    if (rc)
        return rc;
    if (*npos < minpos)
        return ctl_usage("missing argument: usage: jcsctl %s %s", cmd->name, cmd->args);
    return 0;
}

static void print_overview(FILE *f)
{
    fprintf(f, "usage: jcsctl [global options] COMMAND [ARGS]\n\n"
               "The command line for a running jcs (the JointCloud Storage client).\n"
               "Objects are named BUCKET/PACKAGE/PATH.\n\nCommands:\n");
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        for (const ctl_cmd *cmd = groups[g]; cmd->name; cmd++) {
            char head[64];
            snprintf(head, sizeof head, "%s %s", cmd->name, cmd->args);
            fprintf(f, "  %-36s %s\n", head, cmd->summary);
        }
    fprintf(f,
            "\n%s\nExit codes: 0 done, 1 the server refused or failed, 2 usage (a bad option or "
            "argument, a\nlocal file that does not exist), 3 connection or TLS failure (no or an "
            "unreadable CA or\nclient certificate included).\nRun jcsctl COMMAND --help for a "
            "command's options and an example.\n",
            global_help);
}

/* How many words of argv[i..] (skipping nothing) match cmd->name; 0 if not all. */
static int match_words(const ctl_cmd *cmd, int argc, char **argv, int i)
{
    const char *n = cmd->name;
    int used = 0;
    while (*n) {
        size_t len = strcspn(n, " ");
        if (i + used >= argc || strlen(argv[i + used]) != len || strncmp(argv[i + used], n, len))
            return 0;
        used++;
        n += len;
        while (*n == ' ')
            n++;
    }
    return used;
}

/*
 * The commands that start with word (a group name given alone): printed
 * when f is not NULL, their last words appended to list (", "-separated).
 */
static int group_help(const char *word, FILE *f, char *list, size_t size)
{
    size_t len = strlen(word);
    int any = 0;
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        for (const ctl_cmd *cmd = groups[g]; cmd->name; cmd++)
            if (strncmp(cmd->name, word, len) == 0 && cmd->name[len] == ' ') {
                if (f && !any)
                    fprintf(f, "usage:\n");
                if (f)
                    fprintf(f, "  jcsctl %s %s\n      %s\n", cmd->name, cmd->args, cmd->summary);
                if (list) {
                    size_t used = strlen(list);
                    snprintf(list + used, size - used, "%s%s", any ? ", " : "",
                             cmd->name + len + 1);
                }
                any = 1;
            }
    return any;
}

/* The first example line ("  jcsctl ...") of each command of a group, under "Examples:". */
static void group_examples(const char *word, FILE *f)
{
    size_t len = strlen(word);
    fprintf(f, "\nExamples:\n");
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        for (const ctl_cmd *cmd = groups[g]; cmd->name; cmd++) {
            if (strncmp(cmd->name, word, len) != 0 || cmd->name[len] != ' ')
                continue;
            const char *ex = strstr(cmd->help, "Example");
            const char *line = ex ? strstr(ex, "\n  jcsctl ") : NULL;
            if (line) {
                line += 1;
                fprintf(f, "%.*s\n", (int)strcspn(line, "\n"), line);
            }
        }
    fprintf(f, "\nRun jcsctl %s SUBCOMMAND --help for a subcommand's options.\n", word);
}

static int run(ctl *c, int argc, char **argv)
{
    int help = 0, i = 1, rc;
    /* Global options before the command words. */
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--version") == 0) {
            printf("jcsctl %s\n", JCS_VERSION);
            return 0;
        }
        if ((rc = global_opt(c, argc, argv, &i, &help)) < 0)
            return rc;
        if (!rc)
            return ctl_usage("unknown option \"%s\" before the command (jcsctl --help lists "
                             "the commands)",
                             argv[i]);
        i++;
    }
    if (i >= argc || strcmp(argv[i], "help") == 0) {
        if (i + 1 < argc && group_help(argv[i + 1], stdout, NULL, 0))
            return 0;
        if (i >= argc && !help) {
            print_overview(stderr);
            return ctl_usage("no command given");
        }
        print_overview(stdout);
        return 0;
    }
    if (strcmp(argv[i], "version") == 0) {
        printf("jcsctl %s\n", JCS_VERSION);
        return 0;
    }
    const ctl_cmd *best = NULL;
    int best_n = 0;
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        for (const ctl_cmd *cmd = groups[g]; cmd->name; cmd++) {
            int n = match_words(cmd, argc, argv, i);
            if (n > best_n)
                best = cmd, best_n = n;
        }
    if (!best) {
        char subs[512] = "", group[256];
        for (int k = i + 1; k < argc; k++)
            help |= strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0;
        /* "space add" is a group inside a group. */
        snprintf(group, sizeof group, "%s %s", argv[i], i + 1 < argc ? argv[i + 1] : "");
        if (i + 1 >= argc || !group_help(group, NULL, NULL, 0))
            snprintf(group, sizeof group, "%s", argv[i]);
        if (group_help(group, help ? stdout : NULL, subs, sizeof subs)) {
            if (help) {
                group_examples(group, stdout);
                return 0;
            }
            return ctl_usage("\"%s\" needs a subcommand: %s (jcsctl %s --help shows them)", group,
                             subs, group);
        }
        return ctl_usage("unknown command \"%s\" (jcsctl --help lists the commands)", argv[i]);
    }
    c->cmd_name = best->name;
    c->cmd = best;
    if (help) {
        ctl_cmd_help(best);
        return 0;
    }
    return best->run(c, argc - i - best_n, argv + i + best_n);
}

int main(int argc, char **argv)
{
    ctl c;
    memset(&c, 0, sizeof c);
    c.progress = isatty(STDERR_FILENO);
    if (jcs_rest_global_init() != 0) {
        fprintf(stderr, "jcsctl: libcurl could not be initialised\n");
        return CTL_EXIT_FAIL;
    }
    int rc = run(&c, argc, argv);
    ctl_close(&c);
    jcs_rest_global_cleanup();
    if (rc) {
        fflush(stdout);
        if (rc == JCS_EINVAL && c.cmd_name)
            fprintf(stderr, "jcsctl %s: %s (jcsctl %s --help shows how)\n", c.cmd_name,
                    jcs_err_msg(rc), c.cmd_name);
        else
            fprintf(stderr, "jcsctl: %s\n", jcs_err_msg(rc));
    }
    if (fflush(stdout) != 0 && !rc) {
        fprintf(stderr, "jcsctl: cannot write to stdout\n");
        return CTL_EXIT_FAIL;
    }
    return ctl_exit_code(rc);
}
