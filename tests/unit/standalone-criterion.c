/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Runner for tests built against standalone-criterion.h. */
#include "standalone-criterion.h"

#define MAX_TESTS 256

static StandaloneTest tests[MAX_TESTS];
static int test_count;

void
standalone_register(const char *name, const StandaloneSuite *suite, void (*run)(void))
{
  if (test_count == MAX_TESTS)
    abort();
  tests[test_count++] = (StandaloneTest){name, suite, run};
}

int
main(void)
{
  for (int i = 0; i < test_count; i++)
    {
      fprintf(stderr, "[RUN ] %s\n", tests[i].name);
      if (tests[i].suite->init)
        tests[i].suite->init();
      tests[i].run();
      if (tests[i].suite->fini)
        tests[i].suite->fini();
      fprintf(stderr, "[PASS] %s\n", tests[i].name);
    }
  /* the closing line CI readers look for */
  printf("%d passed, 0 failed\n", test_count);
  return 0;
}
