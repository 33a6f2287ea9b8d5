/* Shared definitions of the `netserv` command-line tool. */
#pragma once

/* Exit codes of `netserv` (documented in `netserv --help` and the README). */
enum cli_exit {
	CLI_OK = 0,           /* success (a 2xx response) */
	CLI_ERR_RESPONSE = 1, /* the node answered with an error (4xx/5xx) */
	CLI_ERR_USAGE = 2,    /* bad command line or unreadable input file */
	CLI_ERR_CONNECT = 3,  /* cannot reach the node (socket, timeout) */
	CLI_ERR_PROTOCOL = 4, /* the node's answer was not a valid NCM */
};

/* Runs `netserv ctl ...` with argv[0] == "ctl"; returns an exit code. */
int cli_ctl_main(int argc, char **argv);

/* Runs `netserv module ...` with argv[0] == "module"; returns an exit code. */
int cli_module_main(int argc, char **argv);
