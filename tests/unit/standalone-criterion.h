/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The few Criterion macros our unit tests use, for builds where Criterion
 * cannot run: its sandbox (boxfort) does not start under ThreadSanitizer
 * (Criterion issue #274).  Tests run in one process, in file order; the
 * first failed assertion aborts with its message.
 */
#ifndef STANDALONE_CRITERION_H_INCLUDED
#define STANDALONE_CRITERION_H_INCLUDED

#include <stdio.h>
#include <stdlib.h>

typedef struct StandaloneSuite
{
  void (*init)(void);
  void (*fini)(void);
} StandaloneSuite;

typedef struct StandaloneTest
{
  const char *name;
  const StandaloneSuite *suite;
  void (*run)(void);
} StandaloneTest;

void standalone_register(const char *name, const StandaloneSuite *suite, void (*run)(void));

#define TestSuite(suite, ...) static const StandaloneSuite standalone_suite_##suite = {__VA_ARGS__}

#define Test(suite, name, ...)                                                                                         \
  static void suite##_##name(void);                                                                                    \
  __attribute__((constructor)) static void standalone_register_##suite##_##name(void)                                  \
  {                                                                                                                    \
    standalone_register(#suite "::" #name, &standalone_suite_##suite, suite##_##name);                                 \
  }                                                                                                                    \
  static void suite##_##name(void)

#define cr_assert(cond, ...)                                                                                           \
  do                                                                                                                   \
    {                                                                                                                  \
      if (!(cond))                                                                                                     \
        {                                                                                                              \
          fprintf(stderr, "%s:%d: assertion failed: %s", __FILE__, __LINE__, #cond);                                   \
          fprintf(stderr, " " __VA_ARGS__);                                                                            \
          fprintf(stderr, "\n");                                                                                       \
          abort();                                                                                                     \
        }                                                                                                              \
    }                                                                                                                  \
  while (0)
#define cr_assert_not(cond, ...) cr_assert(!(cond), __VA_ARGS__)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...) cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_leq(a, b, ...) cr_assert((a) <= (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr_assert((a) >= (b), __VA_ARGS__)
#define cr_assert_null(p, ...) cr_assert((p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL, __VA_ARGS__)

#endif
