/*
 * localenv: the converted local model file for the tests that need real word
 * vectors. scripts/test.sh builds it before ctest and exports its path as
 * MW_TEST_LOCAL_MODEL; without that, MEM0_LOCAL_MODEL_PATH or the default
 * path. A missing file fails the test with the command that makes it: these
 * tests never skip.
 */
#ifndef MW_LOCALENV_H
#define MW_LOCALENV_H

struct lembed;

const char *lenv_model_path(void);
/* The model, opened (asserts). Close with lembed_close. */
struct lembed *lenv_open(void);

#endif
