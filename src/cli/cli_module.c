/* `netserv module build`: compiles C sources into a NetServ module (.wasm)
 * with clang for wasm32, freestanding, against the SDK (netserv.h and
 * netserv_sdk.c and netserv_util.c). Runs clang directly (fork/execv, no shell). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/subprocess.h"
#include "lib/util.h"

#ifndef NETSERV_SDK_SOURCE_DIR
#define NETSERV_SDK_SOURCE_DIR ""
#endif

/* `module build` reports a failed compilation (or a missing toolchain) with
 * the generic failure code; cli.h has no separate one. */
#define MODULE_ERR_BUILD CLI_ERR_RESPONSE

#define WASM_PAGE          65536u
#define DEFAULT_MAX_MEMORY (16u * 1024 * 1024)
#define DEFAULT_STACK_SIZE (64u * 1024)
#define WASM32_MAX_MEMORY  (UINT64_C(65536) * WASM_PAGE)

static const char module_usage[] =
        "Usage: netserv module build SRC.c... -o MOD.wasm [OPTIONS]\n"
        "\n"
        "Compiles C sources into a NetServ module: WebAssembly (wasm32), freestanding\n"
        "(no libc), against the SDK header <netserv.h>, with the SDK's netserv_sdk.c\n"
        "and netserv_util.c linked in. Needs clang and lld (wasm-ld).\n"
        "\n"
        "Options:\n"
        "  -o, --output FILE       the module to write (required)\n"
        "  -I, --include DIR       add DIR to the include path\n"
        "  -D, --define NAME[=VAL] define a preprocessor macro\n"
        "  -O, --opt LEVEL         optimization level: 0 1 2 3 s z (default 2)\n"
        "      --max-memory BYTES  the module's memory limit, a multiple of 64 KiB;\n"
        "                          K, M and G suffixes allowed (default 16M)\n"
        "      --stack-size BYTES  shadow stack size (default 64K)\n"
        "  -X, --cflag FLAG        pass FLAG to clang as is (e.g. -X -Werror)\n"
        "  -v, --verbose           print the clang command line and the result\n"
        "  -h, --help              show this help\n"
        "\n"
        "Environment:\n"
        "  NETSERV_SDK_DIR  the SDK (include/netserv.h, src/netserv_sdk.c and\n"
        "                   src/netserv_util.c);\n"
        "                   default: <bin>/../share/netserv/sdk, then the source tree\n"
        "  NETSERV_CLANG    the clang to run (default: clang in PATH)\n"
        "\n"
        "Exit status: 0 success; 1 the compiler failed, or clang, wasm-ld or the SDK\n"
        "is missing; 2 usage error or unreadable source file.\n";

static const char module_cmd_usage[] =
        "Usage: netserv module COMMAND [ARGS...]\n"
        "\n"
        "Commands:\n"
        "  build SRC.c... -o MOD.wasm   compile a module (see 'netserv module build --help')\n"
        "  run MOD.wasm --pcap IN.pcap  run a module offline on a capture (see 'netserv module\n"
        "                               run --help')\n"
        "  test [-m MOD.wasm] DIR       run a directory of offline cases ('module test --help')\n";

/* --- argument vector ------------------------------------------------------ */

struct strv {
	char **v;
	size_t n, cap;
};

static void strv_free(struct strv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	*a = (struct strv){0};
}

/* Appends a copy of the formatted string; keeps v NULL-terminated. Returns 0
 * or -ENOMEM. */
_printf_(2, 3) static int strv_pushf(struct strv *a, const char *fmt, ...)
{
	if (a->n + 2 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 32;
		char **v = realloc(a->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&a->v[a->n], fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	a->v[++a->n] = NULL;
	return 0;
}

/* --- finding things --------------------------------------------------------- */

/* Returns the path of the executable `name` (searched in PATH unless it has a
 * slash), malloc'd, or NULL. */
static char *find_exe(const char *name)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? strdup(name) : NULL;
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");
		char *cand = NULL;
		if (asprintf(&cand, "%.*s/%s", (int)len, len ? path : ".", name) < 0)
			return NULL;
		struct stat st;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
			return cand;
		free(cand);
		path += len;
		if (*path == ':')
			path++;
	}
	return NULL;
}

static bool sdk_dir_ok(const char *dir)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/include/netserv.h", dir);
	if (access(p, R_OK) != 0)
		return false;
	snprintf(p, sizeof(p), "%s/src/netserv_sdk.c", dir);
	if (access(p, R_OK) != 0)
		return false;
	snprintf(p, sizeof(p), "%s/src/netserv_util.c", dir);
	return access(p, R_OK) == 0;
}

/* Finds the SDK: $NETSERV_SDK_DIR, <dir of this executable>/../share/netserv/sdk
 * (the installed layout), the source tree's sdk/. Returns a malloc'd path or
 * NULL (and says why on stderr). */
static char *find_sdk(void)
{
	const char *env = getenv("NETSERV_SDK_DIR");
	if (env && *env) {
		if (sdk_dir_ok(env))
			return strdup(env);
		fprintf(stderr,
		        "netserv: NETSERV_SDK_DIR=%s is not an SDK (needs include/netserv.h and "
		        "src/netserv_sdk.c, src/netserv_util.c)\n",
		        env);
		return NULL;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			char cand[PATH_MAX + 32];
			snprintf(cand, sizeof(cand), "%s/../share/netserv/sdk", exe);
			char *real = realpath(cand, NULL);
			if (real && sdk_dir_ok(real))
				return real;
			free(real);
		}
	}
	if (*NETSERV_SDK_SOURCE_DIR && sdk_dir_ok(NETSERV_SDK_SOURCE_DIR))
		return strdup(NETSERV_SDK_SOURCE_DIR);
	if (*NETSERV_SDK_SOURCE_DIR && errno == EACCES) {
		/* A build tree in a directory this user cannot read (root's home). */
		fprintf(stderr,
		        "netserv: the module SDK of this build (%s) is not readable by this user: "
		        "%s; set NETSERV_SDK_DIR, or install netserv (make install)\n",
		        NETSERV_SDK_SOURCE_DIR, strerror(errno));
		return NULL;
	}
	fprintf(stderr, "netserv: cannot find the module SDK (netserv.h, netserv_sdk.c): set "
	                "NETSERV_SDK_DIR, or install netserv (make install)\n");
	return NULL;
}

/* Runs argv and waits. Returns the exit status, 128+signal, or -errno if it
 * could not run. With `out`, captures up to cap-1 bytes of stdout as a
 * string (and discards stderr). */
static int run(char *const argv[], char *out, size_t cap)
{
	struct subprocess sp = {
	        .argv = argv,
	        .out = out ? SUBPROCESS_CAPTURE : SUBPROCESS_INHERIT,
	        .out_max = cap ? cap - 1 : 0,
	        .err = out ? SUBPROCESS_NULL : SUBPROCESS_INHERIT,
	};
	struct subprocess_result res;
	int r = subprocess_run(&sp, &res);
	if (r < 0)
		return r;
	if (out)
		snprintf(out, cap, "%s", res.out);
	r = subprocess_exit_code(&res);
	subprocess_result_done(&res);
	return r;
}

/* Checks that clang can find wasm-ld (package lld). Returns true if it can
 * (or if clang cannot tell). */
static bool have_wasm_ld(const char *clang)
{
	char *argv[] = {(char *)clang, "--target=wasm32", "-print-prog-name=wasm-ld", NULL};
	char out[PATH_MAX];
	if (run(argv, out, sizeof(out)) != 0)
		return true;
	out[strcspn(out, "\n")] = '\0';
	return strchr(out, '/') != NULL;
}

/* --- options ------------------------------------------------------------- */

/* Parses BYTES with an optional K, M or G suffix (powers of 1024, "KiB" etc.
 * accepted too). */
static int parse_bytes(const char *s, uint64_t *ret)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		return -EINVAL;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	uint64_t mult = 1;
	if (*end == 'K' || *end == 'k')
		mult = 1024;
	else if (*end == 'M' || *end == 'm')
		mult = 1024 * 1024;
	else if (*end == 'G' || *end == 'g')
		mult = 1024 * 1024 * 1024;
	if (mult > 1) {
		end++;
		if (!strcmp(end, "iB") || !strcmp(end, "B"))
			end += strlen(end);
	}
	if (*end || v > UINT64_MAX / mult)
		return -EINVAL;
	*ret = v * mult;
	return 0;
}

struct build_opts {
	const char *output;
	const char *opt_level;
	uint64_t max_memory;
	uint64_t stack_size;
	bool verbose;
	struct strv user_flags; /* -I, -D and -X, in command-line order */
	struct strv sources;
};

static void print_command(char *const argv[])
{
	fputs("+", stderr);
	for (size_t i = 0; argv[i]; i++) {
		const char *a = argv[i];
		if (*a && !a[strcspn(a, " \t\n'\"\\$`*?[]{}()<>|&;#~!")]) {
			fprintf(stderr, " %s", a);
			continue;
		}
		fputs(" '", stderr);
		for (; *a; a++) {
			if (*a == '\'')
				fputs("'\\''", stderr);
			else
				fputc(*a, stderr);
		}
		fputc('\'', stderr);
	}
	fputc('\n', stderr);
}

/* Builds the clang command line into *cmd. Returns 0 or -ENOMEM. */
static int build_command(const struct build_opts *o, const char *clang, const char *sdk,
                         struct strv *cmd)
{
	int r = 0;
	/* Target and language: wasm32 with no OS and no libc. -mcpu=mvp pins the
	 * feature set so that a newer clang does not start emitting features the
	 * node's wasm2c may not translate (e.g. SIMD); bulk memory, sign
	 * extension and saturating float-to-int are the ones we use. */
	r |= strv_pushf(cmd, "%s", clang);
	r |= strv_pushf(cmd, "--target=wasm32");
	r |= strv_pushf(cmd, "-mcpu=mvp");
	r |= strv_pushf(cmd, "-mbulk-memory");
	r |= strv_pushf(cmd, "-msign-ext");
	r |= strv_pushf(cmd, "-mnontrapping-fptoint");
	r |= strv_pushf(cmd, "-O%s", o->opt_level);
	r |= strv_pushf(cmd, "-ffreestanding"); /* no hosted libc; implies -fno-builtin */
	r |= strv_pushf(cmd, "-nostdlib");      /* link no libc, no crt1, no compiler-rt */
	r |= strv_pushf(cmd, "-nostdlibinc");   /* only clang's own stdint.h etc. */
	r |= strv_pushf(cmd, "-Wall");
	r |= strv_pushf(cmd, "-I%s/include", sdk);
	for (size_t i = 0; i < o->user_flags.n; i++)
		r |= strv_pushf(cmd, "%s", o->user_flags.v[i]);
	for (size_t i = 0; i < o->sources.n; i++)
		r |= strv_pushf(cmd, "%s", o->sources.v[i]);
	r |= strv_pushf(cmd, "%s/src/netserv_sdk.c", sdk);
	r |= strv_pushf(cmd, "%s/src/netserv_util.c", sdk);
	r |= strv_pushf(cmd, "-o");
	r |= strv_pushf(cmd, "%s", o->output);
	/* Linker: a library-like module (no _start), the shadow stack first in
	 * memory so that an overflow traps instead of overwriting data, and the
	 * memory limit in the module itself. */
	r |= strv_pushf(cmd, "-Wl,--no-entry");
	r |= strv_pushf(cmd, "-Wl,--stack-first");
	r |= strv_pushf(cmd, "-Wl,-z,stack-size=%" PRIu64, o->stack_size);
	r |= strv_pushf(cmd, "-Wl,--max-memory=%" PRIu64, o->max_memory);
	r |= strv_pushf(cmd, "-Wl,--export=ns_abi_version");
	r |= strv_pushf(cmd, "-Wl,--export=ns_packet_buffer");
	return r ? -ENOMEM : 0;
}

static int module_build(int argc, char **argv)
{
	enum { OPT_MAX_MEMORY = 256, OPT_STACK_SIZE };
	static const struct option opts[] = {
	        {"output", required_argument, NULL, 'o'},
	        {"include", required_argument, NULL, 'I'},
	        {"define", required_argument, NULL, 'D'},
	        {"opt", required_argument, NULL, 'O'},
	        {"cflag", required_argument, NULL, 'X'},
	        {"max-memory", required_argument, NULL, OPT_MAX_MEMORY},
	        {"stack-size", required_argument, NULL, OPT_STACK_SIZE},
	        {"verbose", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	struct build_opts o = {
	        .opt_level = "2",
	        .max_memory = DEFAULT_MAX_MEMORY,
	        .stack_size = DEFAULT_STACK_SIZE,
	};
	struct strv cmd = {0};
	char *clang = NULL, *sdk = NULL;
	int ret = CLI_ERR_USAGE, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:I:D:O:X:vh", opts, NULL)) != -1) {
		int r = 0;
		switch (c) {
		case 'o':
			o.output = optarg;
			break;
		case 'I':
			r = strv_pushf(&o.user_flags, "-I%s", optarg);
			break;
		case 'D':
			r = strv_pushf(&o.user_flags, "-D%s", optarg);
			break;
		case 'X':
			r = strv_pushf(&o.user_flags, "%s", optarg);
			break;
		case 'O':
			if (strlen(optarg) != 1 || !strchr("0123sz", optarg[0])) {
				fprintf(stderr, "netserv: bad -O level '%s' (0 1 2 3 s z)\n",
				        optarg);
				goto out;
			}
			o.opt_level = optarg;
			break;
		case OPT_MAX_MEMORY:
			if (parse_bytes(optarg, &o.max_memory) < 0 || o.max_memory == 0 ||
			    o.max_memory % WASM_PAGE || o.max_memory > WASM32_MAX_MEMORY) {
				fprintf(stderr,
				        "netserv: bad --max-memory '%s': a multiple of 64 KiB, at "
				        "most 4 GiB\n",
				        optarg);
				goto out;
			}
			break;
		case OPT_STACK_SIZE:
			if (parse_bytes(optarg, &o.stack_size) < 0 || o.stack_size < 4096 ||
			    o.stack_size % 16 || o.stack_size > WASM32_MAX_MEMORY / 2) {
				fprintf(stderr,
				        "netserv: bad --stack-size '%s': a multiple of 16, at "
				        "least 4096\n",
				        optarg);
				goto out;
			}
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'h':
			fputs(module_usage, stdout);
			ret = CLI_OK;
			goto out;
		default:
			fputs(module_usage, stderr);
			goto out;
		}
		if (r < 0) {
			fprintf(stderr, "netserv: out of memory\n");
			ret = MODULE_ERR_BUILD;
			goto out;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (access(argv[i], R_OK) != 0) {
			fprintf(stderr, "netserv: cannot read %s: %s\n", argv[i], strerror(errno));
			goto out;
		}
		if (strv_pushf(&o.sources, "%s", argv[i]) < 0) {
			fprintf(stderr, "netserv: out of memory\n");
			ret = MODULE_ERR_BUILD;
			goto out;
		}
	}
	if (!o.sources.n || !o.output) {
		fprintf(stderr, "netserv: module build needs %s\n\n%s",
		        !o.sources.n ? "at least one source file" : "an output file (-o)",
		        module_usage);
		goto out;
	}
	if (o.stack_size >= o.max_memory) {
		fprintf(stderr, "netserv: --stack-size must be below --max-memory\n");
		goto out;
	}

	ret = MODULE_ERR_BUILD;
	const char *clang_name = getenv("NETSERV_CLANG");
	if (!clang_name || !*clang_name)
		clang_name = "clang";
	clang = find_exe(clang_name);
	if (!clang) {
		fprintf(stderr,
		        "netserv: %s not found%s: building modules needs clang and lld "
		        "(Debian: apt-get install clang lld), or set NETSERV_CLANG\n",
		        clang_name, strchr(clang_name, '/') ? "" : " in PATH");
		goto out;
	}
	if (!have_wasm_ld(clang)) {
		fprintf(stderr,
		        "netserv: %s cannot find wasm-ld: building modules needs lld "
		        "(Debian: apt-get install lld)\n",
		        clang);
		goto out;
	}
	sdk = find_sdk();
	if (!sdk)
		goto out;
	if (build_command(&o, clang, sdk, &cmd) < 0) {
		fprintf(stderr, "netserv: out of memory\n");
		goto out;
	}
	if (o.verbose)
		print_command(cmd.v);
	int r = run(cmd.v, NULL, 0);
	if (r < 0) {
		fprintf(stderr, "netserv: cannot run %s: %s\n", clang, strerror(-r));
		goto out;
	}
	if (r != 0) {
		if (r > 128)
			fprintf(stderr, "netserv: module build failed: clang killed by signal %d\n",
			        r - 128);
		else
			fprintf(stderr,
			        "netserv: module build failed: clang exited with status %d\n", r);
		goto out;
	}
	if (o.verbose) {
		struct stat st;
		if (stat(o.output, &st) == 0)
			fprintf(stderr, "netserv: wrote %s (%lld bytes)\n", o.output,
			        (long long)st.st_size);
	}
	ret = CLI_OK;
out:
	strv_free(&cmd);
	strv_free(&o.user_flags);
	strv_free(&o.sources);
	free(clang);
	free(sdk);
	return ret;
}

int cli_module_main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(module_cmd_usage, stderr);
		return CLI_ERR_USAGE;
	}
	const char *sub = argv[1];
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
		fputs(module_cmd_usage, stdout);
		return CLI_OK;
	}
	if (!strcmp(sub, "build"))
		return module_build(argc - 1, argv + 1);
	if (!strcmp(sub, "run"))
		return cli_module_run_main(argc - 1, argv + 1);
	if (!strcmp(sub, "test"))
		return cli_module_test_main(argc - 1, argv + 1);
	fprintf(stderr, "netserv: module: unknown command '%s'\n\n%s", sub, module_cmd_usage);
	return CLI_ERR_USAGE;
}
