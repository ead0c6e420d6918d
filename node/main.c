/*
 * The `comptoir` binary. Core dumps are off: a dump would hold unlocked keys.
 */
#include <sys/resource.h>

#include "node/cli/cli.h"

int
main(int argc, char **argv)
{
	struct rlimit rl = {0, 0};

	setrlimit(RLIMIT_CORE, &rl);
	return cli_main(argc, argv);
}
