/*
 * memworker: the ingest daemon (work in progress: issue 3).
 */
#include "cfg.h"
#include "log.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	struct cfg cfg;
	int rc;

	if (cfg_load(&cfg, &argc, argv, NULL, stderr) < 0 || cfg_check_models(&cfg, stderr) < 0) {
		cfg_free(&cfg);
		return 2;
	}
	log_setup((enum log_level)cfg.log_level, (enum log_format)cfg.log_format, "memworker");
	log_error("the ingest pipeline is not built yet");
	rc = 1;
	cfg_free(&cfg);
	return rc;
}
