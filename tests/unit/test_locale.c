/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A worker thread's locale (modules/parallelize/parallelize-locale.h): the
 * "C" locale object while the process's locale is "C", the process's locale
 * otherwise, followed at each sync; checked by what the thread's libc calls
 * do, not by the helper's own flag alone. */
#define _GNU_SOURCE
#include "parallelize-locale.h"

#ifdef STANDALONE_CRITERION
#include "standalone-criterion.h"
#else
#include <criterion/criterion.h>
#endif
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

TestSuite(thread_locale, .init = NULL);

/* U+00E9 in UTF-8: one character in a UTF-8 locale, an invalid byte in "C" */
static int
_decodes_utf8(void)
{
  mbstate_t state;
  memset(&state, 0, sizeof(state));
  wchar_t wc = 0;
  size_t n = mbrtowc(&wc, "\xc3\xa9", 2, &state);
  return n == 2 && wc == 0xe9;
}

static int
_have_c_utf8(void)
{
  int ok = setlocale(LC_ALL, "C.UTF-8") != NULL;
  setlocale(LC_ALL, "C");
  return ok;
}

typedef struct
{
  ParallelizeThreadLocale locale;
  int started_on_c, object_in_use, copy_is_same;
  int global_synced_on_c, global_in_use, global_decodes;
  int back_synced_on_c, back_decodes;
  int stopped_in_use_global;
  pthread_barrier_t step;
} Run;

static void *
_worker(void *arg)
{
  Run *run = arg;
  parallelize_thread_locale_start(&run->locale);
  run->started_on_c = run->locale.on_c_locale;
  run->object_in_use = uselocale((locale_t) 0) == run->locale.c_locale;
#ifdef __GLIBC__
  /* what json-c does for every document: glibc copies nothing (and takes no lock) for its "C" object */
  locale_t copy = duplocale(uselocale((locale_t) 0));
  run->copy_is_same = copy == run->locale.c_locale;
  freelocale(copy);
#else
  run->copy_is_same = 1;
#endif
  pthread_barrier_wait(&run->step); /* main: process locale C.UTF-8 */
  pthread_barrier_wait(&run->step);
  run->global_synced_on_c = parallelize_thread_locale_sync(&run->locale);
  run->global_in_use = uselocale((locale_t) 0) == LC_GLOBAL_LOCALE;
  run->global_decodes = _decodes_utf8();
  pthread_barrier_wait(&run->step); /* main: process locale C again */
  pthread_barrier_wait(&run->step);
  run->back_synced_on_c = parallelize_thread_locale_sync(&run->locale);
  run->back_decodes = _decodes_utf8();
  parallelize_thread_locale_stop(&run->locale);
  run->stopped_in_use_global = uselocale((locale_t) 0) == LC_GLOBAL_LOCALE;
  return NULL;
}

Test(thread_locale, c_object_while_the_process_is_c_and_the_process_locale_otherwise)
{
  cr_assert(_have_c_utf8(),
            "C.UTF-8 (glibc's built-in since 2.35, Debian's libc-bin) is needed to switch the process's locale");
  Run run;
  memset(&run, 0, sizeof(run));
  pthread_barrier_init(&run.step, NULL, 2);
  pthread_t thread;
  cr_assert_eq(pthread_create(&thread, NULL, _worker, &run), 0);
  pthread_barrier_wait(&run.step);
  cr_assert_not_null(setlocale(LC_ALL, "C.UTF-8"));
  pthread_barrier_wait(&run.step);
  pthread_barrier_wait(&run.step);
  setlocale(LC_ALL, "C");
  pthread_barrier_wait(&run.step);
  pthread_join(thread, NULL);
  pthread_barrier_destroy(&run.step);

  cr_assert(run.started_on_c, "the process's locale is C: the thread should use the C object");
  cr_assert(run.object_in_use, "uselocale() should report the C object");
  cr_assert(run.copy_is_same, "duplocale() of the C object should be the object itself");
  cr_assert_not(run.global_synced_on_c, "a UTF-8 process locale: the thread should follow it");
  cr_assert(run.global_in_use, "uselocale() should report the global locale");
  cr_assert(run.global_decodes, "following the process's UTF-8 locale, mbrtowc() should decode UTF-8");
  cr_assert(run.back_synced_on_c, "the process's locale is C again: the C object again");
  cr_assert_not(run.back_decodes, "in the C locale mbrtowc() should not decode a UTF-8 sequence");
  cr_assert(run.stopped_in_use_global, "stop should leave the thread on the global locale");
}

Test(thread_locale, a_mixed_process_locale_is_followed)
{
  cr_assert(_have_c_utf8(), "C.UTF-8 is needed");
  cr_assert_not_null(setlocale(LC_CTYPE, "C.UTF-8"));
  ParallelizeThreadLocale locale;
  parallelize_thread_locale_start(&locale);
  int on_c = locale.on_c_locale;
  int decodes = _decodes_utf8();
  parallelize_thread_locale_stop(&locale);
  setlocale(LC_ALL, "C");
  cr_assert_not(on_c, "only LC_CTYPE differs from C: the process's locale should still be used");
  cr_assert(decodes, "LC_CTYPE is UTF-8: mbrtowc() should decode UTF-8");
}
