/*
 * cli — the `comptoir` command: option parsing, usage, and one file per
 * group of commands (sites and the federation, users, the store, status).
 * A thin adapter over the modules below it; the binary's main() calls it.
 */
#ifndef COMPTOIR_CLI_H
#define COMPTOIR_CLI_H

/* Entry point of the `comptoir` binary; returns the exit code. */
int cli_main(int argc, char **argv);

#endif
