/* netserv: the one command-line tool (operator and publisher side). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "paths.h"

static const char usage[] =
        "Usage: netserv COMMAND [ARGS...]\n"
        "\n"
        "Commands:\n"
        "  ctl send FILE|-     send an NCM to the local node, print the response\n"
        "  ctl status          show the node's modules (--json for JSON)\n"
        "  sidecar status|drain NAME|undrain NAME\n"
        "                      the OpenFlow sidecar: switch, nodes, flows; take a\n"
        "                      node out of the group and put it back\n"
        "  setup|remove|probe --to ADDRESS ...\n"
        "                      signal a request toward a user: every NetServ node on\n"
        "                      the path installs, removes or reports (--help: options)\n"
        "  keygen NAME         make a publisher's Ed25519 key pair (NAME.key, NAME.pub)\n"
        "  sign [-k KEY] FILE|-\n"
        "                      add timestamp and nonce to an NCM and sign it\n"
        "  verify -p PUB FILE|- check an NCM's signature\n"
        "  module build SRC.c... -o MOD.wasm\n"
        "                      compile a module with the SDK (needs clang and lld)\n"
        "  module run MOD.wasm --pcap IN.pcap\n"
        "                      run a module offline on a capture (no node, no root)\n"
        "  module test DIR     run a directory of such cases against expected outputs\n"
        "  viz [--port N]      show NetMonitor reports live (a page on localhost)\n"
        "  notifications --listen ADDR:PORT [--count N]\n"
        "                      print the notifications nodes send about your modules\n"
        "  help                show this help\n"
        "\n"
        "Run 'netserv COMMAND --help' for a command's options.\n"
        "\n"
        "Exit status: 0 success; 1 the node answered with an error (4xx/5xx),\n"
        "or a module build failed; 2 usage error or unreadable input;\n"
        "3 cannot reach the node; 4 the node's answer was malformed.\n";

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return CLI_ERR_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return CLI_OK;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		puts("netserv " NETSERV_VERSION);
		return CLI_OK;
	}
	if (!strcmp(cmd, "ctl"))
		return cli_ctl_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "sidecar"))
		return cli_sidecar_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "setup") || !strcmp(cmd, "remove") || !strcmp(cmd, "probe"))
		return cli_signal_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "module"))
		return cli_module_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "keygen") || !strcmp(cmd, "sign") || !strcmp(cmd, "verify"))
		return cli_keys_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "notifications"))
		return cli_notify_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "viz"))
		return cli_viz_main(argc - 1, argv + 1);
	fprintf(stderr, "netserv: unknown command '%s'\n\n%s", cmd, usage);
	return CLI_ERR_USAGE;
}
