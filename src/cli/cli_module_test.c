/* `netserv module test`: runs a directory of cases through `netserv module
 * run` and compares what it prints with what each case expects. A case is
 * NAME.pcap with NAME.expected (the output of `module run`), and optionally
 * NAME.props (the module's properties, KEY=VALUE a line) and NAME.args
 * (more options of `module run`, one a line). Each case runs in a process of
 * its own (the module host is one per process). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/subprocess.h"

#define OUTPUT_MAX (16u << 20)
#define MAX_ARGS   256

static const char test_usage[] =
        "Usage: netserv module test [-m MODULE.wasm] [--update] DIR\n"
        "\n"
        "Runs every case in DIR with `netserv module run` and compares its output\n"
        "with the case's expected output; prints one TAP line per case and a\n"
        "summary. A case is NAME.pcap with:\n"
        "  NAME.expected  what `netserv module run` prints (required, but --update\n"
        "                 writes it)\n"
        "  NAME.props     properties of the module, KEY=VALUE a line (optional;\n"
        "                 # starts a comment)\n"
        "  NAME.args      more options of `module run`, one a line, e.g. --hex or\n"
        "                 --after=5000 (optional)\n"
        "\n"
        "Options:\n"
        "  -m, --module FILE  the module (default: the only *.wasm in DIR)\n"
        "  -u, --update       write each case's output into NAME.expected\n"
        "  -h, --help         show this help\n"
        "\n"
        "Exit status: 0 every case passed; 1 a case failed; 2 usage error.\n";

/* Reads a whole file into a malloc'd string. Returns NULL (errno set). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *s = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&s, &len);
	char chunk[8192];
	size_t n;
	while (m && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(f);
	if (!m)
		return NULL;
	fclose(m);
	return s;
}

/* Appends the lines of PATH (if it exists) to argv, each after `opt` when
 * not NULL; blank lines and lines starting with # are skipped. Returns 0 or
 * -errno. */
static int add_lines(const char *path, const char *opt, char **argv, int *argc, char **keep)
{
	char *s = slurp(path);
	if (!s)
		return errno == ENOENT ? 0 : -errno;
	*keep = s;
	for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
		line[strcspn(line, "\r")] = '\0';
		if (!*line || *line == '#')
			continue;
		if (*argc + 3 >= MAX_ARGS)
			return -E2BIG;
		if (opt)
			argv[(*argc)++] = (char *)opt;
		argv[(*argc)++] = line;
	}
	return 0;
}

/* Prints, as TAP comments, where got and want first differ. */
static void diff_diag(const char *want, const char *got)
{
	unsigned line = 1;
	while (*want && *want == *got) {
		if (*want == '\n')
			line++;
		want++;
		got++;
	}
	/* back to the start of the line */
	while (line > 1 && want[-1] != '\n') {
		want--;
		got--;
	}
	printf("#   first difference at line %u\n", line);
	printf("#   expected: %.*s\n", (int)strcspn(want, "\n"), *want ? want : "(end of output)");
	printf("#   got:      %.*s\n", (int)strcspn(got, "\n"), *got ? got : "(end of output)");
}

static int pcap_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 5 && !strcmp(d->d_name + n - 5, ".pcap");
}

static int wasm_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 5 && !strcmp(d->d_name + n - 5, ".wasm");
}

/* Runs one case; prints its TAP line. Returns true if it passed. */
static bool run_case(unsigned num, const char *dir, const char *name, const char *module,
                     bool update)
{
	char pcap[PATH_MAX], props[PATH_MAX], args[PATH_MAX], expected[PATH_MAX];
	snprintf(pcap, sizeof(pcap), "%s/%s.pcap", dir, name);
	snprintf(props, sizeof(props), "%s/%s.props", dir, name);
	snprintf(args, sizeof(args), "%s/%s.args", dir, name);
	snprintf(expected, sizeof(expected), "%s/%s.expected", dir, name);
	char *argv[MAX_ARGS], *keep1 = NULL, *keep2 = NULL, *want = NULL;
	int argc = 0;
	argv[argc++] = "netserv";
	argv[argc++] = "module";
	argv[argc++] = "run";
	argv[argc++] = (char *)module;
	argv[argc++] = "--pcap";
	argv[argc++] = pcap;
	bool pass = false;
	int r;
	if ((r = add_lines(props, "--property", argv, &argc, &keep1)) < 0 ||
	    (r = add_lines(args, NULL, argv, &argc, &keep2)) < 0) {
		printf("not ok %u - %s\n#   cannot read its .props or .args: %s\n", num, name,
		       strerror(-r));
		goto out;
	}
	argv[argc] = NULL;
	struct subprocess sp = {
	        .file = "/proc/self/exe",
	        .argv = argv,
	        .out = SUBPROCESS_CAPTURE,
	        .out_max = OUTPUT_MAX,
	        .err = SUBPROCESS_CAPTURE,
	        .err_max = 4096,
	        .timeout_ms = 300000,
	};
	struct subprocess_result res;
	if ((r = subprocess_run(&sp, &res)) < 0) {
		printf("not ok %u - %s\n#   cannot run netserv module run: %s\n", num, name,
		       strerror(-r));
		goto out;
	}
	int code = subprocess_exit_code(&res);
	if (code != 0 || res.out_cut) {
		printf("not ok %u - %s\n#   netserv module run %s (status %d)\n", num, name,
		       res.out_cut ? "printed too much" : "failed", code);
		for (char *l = res.err ? strtok(res.err, "\n") : NULL; l; l = strtok(NULL, "\n"))
			printf("#   %s\n", l);
	} else if (update) {
		FILE *f = fopen(expected, "w");
		if (f && fputs(res.out, f) >= 0 && fclose(f) == 0) {
			printf("ok %u - %s # updated %s\n", num, name, expected);
			pass = true;
		} else {
			printf("not ok %u - %s\n#   cannot write %s: %s\n", num, name, expected,
			       strerror(errno));
		}
	} else if (!(want = slurp(expected))) {
		printf("not ok %u - %s\n#   cannot read %s: %s (--update writes it)\n", num, name,
		       expected, strerror(errno));
	} else if (strcmp(want, res.out) != 0) {
		printf("not ok %u - %s\n", num, name);
		diff_diag(want, res.out);
	} else {
		printf("ok %u - %s\n", num, name);
		pass = true;
	}
	subprocess_result_done(&res);
out:
	fflush(stdout);
	free(keep1);
	free(keep2);
	free(want);
	return pass;
}

int cli_module_test_main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"module", required_argument, NULL, 'm'},
	        {"update", no_argument, NULL, 'u'},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	const char *module = NULL;
	char module_buf[PATH_MAX];
	bool update = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "m:uh", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			module = optarg;
			break;
		case 'u':
			update = true;
			break;
		case 'h':
			fputs(test_usage, stdout);
			return CLI_OK;
		default:
			fputs(test_usage, stderr);
			return CLI_ERR_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "netserv: module test needs one directory\n\n%s", test_usage);
		return CLI_ERR_USAGE;
	}
	const char *dir = argv[optind];
	struct dirent **list = NULL;
	if (!module) {
		int n = scandir(dir, &list, wasm_filter, alphasort);
		if (n != 1) {
			fprintf(stderr, "netserv: %s: %s; name the module with -m\n", dir,
			        n < 0 ? strerror(errno)
			        : n   ? "more than one *.wasm"
			              : "no *.wasm");
			for (int i = 0; i < n; i++)
				free(list[i]);
			free(list);
			return CLI_ERR_USAGE;
		}
		snprintf(module_buf, sizeof(module_buf), "%s/%s", dir, list[0]->d_name);
		free(list[0]);
		free(list);
		module = module_buf;
	}
	if (access(module, R_OK) != 0) {
		fprintf(stderr, "netserv: cannot read %s: %s\n", module, strerror(errno));
		return CLI_ERR_USAGE;
	}
	int n = scandir(dir, &list, pcap_filter, alphasort);
	if (n <= 0) {
		fprintf(stderr, "netserv: %s: %s\n", dir,
		        n < 0 ? strerror(errno) : "no *.pcap cases");
		free(list);
		return CLI_ERR_USAGE;
	}
	printf("1..%d\n", n);
	unsigned passed = 0;
	for (int i = 0; i < n; i++) {
		char name[NAME_MAX + 1];
		snprintf(name, sizeof(name), "%.*s", (int)(strlen(list[i]->d_name) - 5),
		         list[i]->d_name);
		passed += run_case((unsigned)i + 1, dir, name, module, update);
		free(list[i]);
	}
	free(list);
	printf("# %u passed, %u failed\n", passed, (unsigned)n - passed);
	return passed == (unsigned)n ? CLI_OK : CLI_ERR_RESPONSE;
}
