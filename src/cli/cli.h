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

/* Runs `netserv sidecar [OPTIONS] status|drain NAME|undrain NAME` (the
 * OpenFlow sidecar, over the admin socket) with argv[0] == "sidecar". */
int cli_sidecar_main(int argc, char **argv);

/* Runs `netserv setup|remove|probe ...` (signaling toward a user) with argv[0]
 * the command; returns an exit code. */
int cli_signal_main(int argc, char **argv);

/* Runs `netserv keygen|sign|verify ...` with argv[0] the command (cli_keys.c). */
int cli_keys_main(int argc, char **argv);

struct ncm_msg;
/* Signs m in place with the secret key in key_path (signal-to `to` unless it
 * names one or to is NULL, timestamp, nonce, signature; auth_sign) when it is
 * a SETUP, REMOVE or TRIGGER, or a PROBE naming its user, that is not signed
 * yet and key_path is set. Returns 1 when signed, 0 when left alone, or a
 * negative errno after printing why. */
int cli_sign_request(struct ncm_msg *m, const char *key_path, const char *to);

/* Runs `netserv module ...` with argv[0] == "module"; returns an exit code. */
int cli_module_main(int argc, char **argv);

/* Runs `netserv module run ...` with argv[0] == "run" (cli_module_run.c). */
int cli_module_run_main(int argc, char **argv);

/* Runs `netserv module test ...` with argv[0] == "test" (cli_module_test.c). */
int cli_module_test_main(int argc, char **argv);

/* Runs `netserv viz ...` (the NetMonitor visualizer) with argv[0] == "viz". */
int cli_viz_main(int argc, char **argv);

/* `netserv notifications --listen ADDR:PORT [--count N]`: prints the
 * notifications a node sends, one line each. Returns a CLI_* status. */
int cli_notify_main(int argc, char **argv);
