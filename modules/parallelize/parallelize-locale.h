/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A worker thread's locale.  syslog-ng never calls setlocale(), so its
 * process runs in the "C" locale; but a thread that uses the process's
 * (global) locale pays for it in code that copies the current locale per
 * call: json-c's json_tokener_parse_ex() calls duplocale(), newlocale() and
 * freelocale() for every document it parses, and glibc's duplocale() and
 * freelocale() take its one process-wide locale lock (for every locale but
 * its static "C" locale object, which they return at once).  Workers parsing side by side then meet at that lock
 * (a futex system call on every fourth parse with two threads, measured).
 *
 * So while the process's locale is "C" in every category, a worker thread
 * uses the "C" locale object (uselocale()), which behaves the same; where
 * the process's locale is anything else (a module called setlocale()), the
 * thread uses the global locale, as every other thread of the daemon does.
 * The worker looks again each time it wakes up, so it follows a later
 * setlocale() from its next batch on.
 *
 * Plain libc: no syslog-ng header, unit-tested on its own.
 */
#ifndef PARALLELIZE_LOCALE_H_INCLUDED
#define PARALLELIZE_LOCALE_H_INCLUDED

#include <locale.h>

typedef struct _ParallelizeThreadLocale
{
  locale_t c_locale; /* (locale_t) 0 when it could not be made: the global locale then */
  int on_c_locale;
} ParallelizeThreadLocale;

/* on the worker's thread, before its first batch */
void parallelize_thread_locale_start(ParallelizeThreadLocale *self);
/* on the worker's thread, when it wakes up: the "C" object or the global
 * locale, as the process's locale is now; nonzero when the thread uses the
 * "C" object */
int parallelize_thread_locale_sync(ParallelizeThreadLocale *self);
/* on the worker's thread, before it ends: back to the global locale */
void parallelize_thread_locale_stop(ParallelizeThreadLocale *self);

#endif
